"""First-call `torch.compile` time, ours against the reference, measured in the same run.

    python benchmarks/bench_compile_time.py [--backend inductor|eager] [--rounds 2] [--only convnext,resnet]

Each measurement runs in a fresh interpreter with its own empty inductor cache (cold: what
a user sees the first time), builds the model, then times the first compiled forward pass
(batch 2, float32, eval mode, no_grad) minus the eager forward of the same input, i.e. the
time dynamo and the backend spend. Ours and the reference alternate, `--rounds` times each;
the table gives medians and the ratio ours / reference (below 1: ours compiles faster).
`--backend eager` times dynamo's tracing alone (no code generation).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.run_suite import SUITE, machine  # noqa: E402

CHILD = r"""
import json, sys, time, torch
torch.set_num_threads(THREADS)
kind, file, variant, against, backend = sys.argv[1:6]
if kind == "ours":
    import archdsl
    model = archdsl.build(file, None if variant == "None" else variant)
    shape = tuple(model.arch_info["input_shape"])
else:
    lib, name = against.split(":")
    if lib == "timm":
        import timm
        model = timm.create_model(name, pretrained=False)
    else:
        import torchvision
        model = getattr(torchvision.models, name)()
    import archdsl
    shape = tuple(archdsl.summary(file, None if variant == "None" else variant)["input_shape"][1:])
model.eval()
x = torch.randn(2, *shape)
with torch.no_grad():
    t = time.perf_counter(); model(x); eager = time.perf_counter() - t
    compiled = torch.compile(model, backend=backend)
    t = time.perf_counter(); compiled(x); first = time.perf_counter() - t
print(json.dumps({"first_call": first - eager}))
"""


def measure(kind: str, file: str, variant: str | None, against: str, backend: str, threads: int) -> float:
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "TORCHINDUCTOR_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
        r = subprocess.run([sys.executable, "-c", CHILD.replace("THREADS", str(threads)), kind, file, str(variant), against, backend],
                           capture_output=True, text=True, env=env, cwd=ROOT, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])["first_call"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="inductor", choices=["inductor", "eager"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated model stems (default: all six)")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}
    print(f"# first-call torch.compile time ({args.backend}), cold cache, batch 2, {args.threads} threads")
    print(f"# {machine()}")
    print("| model | ours (s) | reference (s) | ours / reference |")
    print("|---|---|---|---|")
    for file, variant, against in SUITE:
        if only and Path(file).stem not in only:
            continue
        ours, ref = [], []
        for _ in range(args.rounds):
            ours.append(measure("ours", file, variant, against, args.backend, args.threads))
            ref.append(measure("ref", file, variant, against, args.backend, args.threads))
        o, r = statistics.median(ours), statistics.median(ref)
        print(f"| {Path(file).stem} {variant} | {o:.1f} | {r:.1f} ({against}) | {o / r:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
