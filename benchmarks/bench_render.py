"""Time `archdsl render` on ConvNeXt-XL at full depth (target: under 5 s on a 2-core machine).

    PYTHONPATH=. python benchmarks/bench_render.py [--repeat 3]

Prints the best of N runs for each step: compile (text -> checked IR), draw (IR -> DOT),
layout (`dot -Tsvg`), and the whole `archdsl render` command in-process. There is no
timm/torchvision counterpart to a diagram, so the ratio printed is against building the
timm reference model (`timm.create_model("convnext_xlarge")` on the meta device), i.e.
"drawing costs this many model constructions".
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import archdsl
from archdsl.backends.graphviz import draw, write
from archdsl.cli import main

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "zoo" / "convnext.arch"


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main_(argv=None) -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    g = archdsl.compile_graph(ZOO, "xlarge")
    dot = draw(g, depth="full")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "xl.svg"
        t_compile = best(lambda: archdsl.compile_graph(ZOO, "xlarge"), args.repeat)
        t_draw = best(lambda: draw(g, depth="full"), args.repeat)
        t_layout = best(lambda: write(dot, out), args.repeat)
        with contextlib.redirect_stdout(io.StringIO()):  # the command prints "wrote ..."
            t_total = best(lambda: main(["render", str(ZOO), "--variant", "xlarge", "--depth", "full", "-o", str(out)]), args.repeat)
    print(f"ConvNeXt-XL, depth full: {len(g)} ops, {dot.source.count(chr(10))} DOT lines")
    print(f"  compile  {t_compile:7.3f} s")
    print(f"  draw     {t_draw:7.3f} s")
    print(f"  dot svg  {t_layout:7.3f} s")
    print(f"  render   {t_total:7.3f} s  (whole command in-process; target < 5 s)")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cold_cmd = [sys.executable, "-m", "archdsl", "render", str(ZOO), "--variant", "xlarge", "--depth", "full", "-o", ""]
    with tempfile.TemporaryDirectory() as tmp:
        cold_cmd[-1] = str(Path(tmp) / "xl.svg")
        t_cold = best(lambda: subprocess.run(cold_cmd, check=True, env=env, capture_output=True), args.repeat)
    print(f"  render   {t_cold:7.3f} s  (new process, imports included)")
    try:
        import timm
        import torch

        def build_ref():
            with torch.device("meta"):
                timm.create_model("convnext_xlarge", pretrained=False)

        t_ref = best(build_ref, args.repeat)
        print(f"  timm convnext_xlarge on meta: {t_ref:.3f} s -> render / build = {t_total / t_ref:.2f}x")
    except ImportError:  # pragma: no cover - timm is a test dependency
        pass


if __name__ == "__main__":
    main_()
