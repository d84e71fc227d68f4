"""First-call `torch.compile` time, ours against the reference, measured in the same run.

    python benchmarks/bench_compile_time.py [--backend inductor|eager] [--rounds 2] [--only convnext,resnet]
    python benchmarks/bench_compile_time.py --in-process [--rounds 7] [--only ...]

Cold (the default): each measurement runs in a fresh interpreter with its own empty inductor
cache (what a user sees the first time), builds the model, then times the first compiled
forward pass (batch 2, float32, eval mode, no_grad) minus the eager forward of the same input,
i.e. the time dynamo and the backend spend. Ours and the reference alternate, `--rounds`
times each; the table gives medians and the ratio ours / reference (below 1: ours compiles
faster). `--backend eager` times dynamo's tracing alone (no code generation).

`--in-process` measures dynamo's tracing (eager backend) of both models in one interpreter per
model pair, after dynamo has traced a small warm-up network (so its one-time imports and set-up
are paid before either model): `--rounds` rounds, each compiling both models in turn (ours first in even rounds, the reference
first in odd ones), each after `torch._dynamo.reset()` and a garbage collection: the first
compiled call minus the eager forward. On a shared machine a fresh interpreter's
start-up varies by more than the difference between the two models; this mode removes that
part. It also prints the work dynamo does for each model, which does not vary with load: the
bytecode instructions it traces, the guards it installs and the nodes of the FX graph.
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


IN_PROCESS = r"""
import gc, json, statistics, sys, time, torch
torch.set_num_threads(THREADS)
import torch._dynamo
from torch._dynamo import symbolic_convert
file, variant, against, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
variant = None if variant == "None" else variant
import archdsl
ours = archdsl.build(file, variant)
lib, name = against.split(":")
if lib == "timm":
    import timm
    ref = timm.create_model(name, pretrained=False)
else:
    import torchvision
    ref = getattr(torchvision.models, name)()
x = torch.randn(2, *ours.arch_info["input_shape"])
models = {"ours": ours.eval(), "ref": ref.eval()}
steps = [0]
step = symbolic_convert.InstructionTranslatorBase.step
def counting_step(self):
    steps[0] += 1
    return step(self)
symbolic_convert.InstructionTranslatorBase.step = counting_step
warm = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.BatchNorm2d(8), torch.nn.ReLU()).eval()
out = {}
with torch.no_grad():
    torch.compile(warm, backend="eager")(torch.randn(1, 3, 16, 16))
    for kind, m in models.items():  # the work, counted once
        torch._dynamo.reset()
        steps[0] = 0
        e = torch._dynamo.explain(m)(x)
        out[kind] = {"steps": steps[0], "guards": len(e.out_guards), "nodes": sum(len(g.graph.nodes) for g in e.graphs),
                     "graphs": e.graph_count, "breaks": e.graph_break_count, "times": []}
    eager = {}
    for kind, m in models.items():
        ts = []
        for _ in range(3):
            t = time.perf_counter(); m(x); ts.append(time.perf_counter() - t)
        eager[kind] = statistics.median(ts)
    for r in range(rounds):  # ours first in even rounds, the reference first in odd ones
        for kind in (["ours", "ref"] if r % 2 == 0 else ["ref", "ours"]):
            m = models[kind]
            torch._dynamo.reset()
            gc.collect()
            c = torch.compile(m, backend="eager")
            t = time.perf_counter(); c(x); out[kind]["times"].append(time.perf_counter() - t - eager[kind])
print(json.dumps(out))
"""


def run_child(script: str, threads: int, argv: list[str], **env: str) -> dict:
    """Run `script` in a fresh interpreter; its last stdout line is a JSON object."""
    r = subprocess.run([sys.executable, "-c", script.replace("THREADS", str(threads)), *argv], capture_output=True, text=True,
                       env={**os.environ, "PYTHONPATH": str(ROOT), **env}, cwd=ROOT, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(r.stderr[-2000:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def selected(only: set[str]):
    """The benchmark suite's (file, variant, reference) rows, those of `--only` if given."""
    return [row for row in SUITE if not only or Path(row[0]).stem in only]


def in_process(file: str, variant: str | None, against: str, rounds: int, threads: int) -> dict:
    return run_child(IN_PROCESS, threads, [file, str(variant), against, str(rounds)])


def main_in_process(args, only: set[str]) -> int:
    print(f"# dynamo tracing (eager backend) in one process per pair, after a warm-up; {args.rounds} interleaved rounds, "
          f"batch 2, {args.threads} threads")
    print(f"# {machine()}")
    print("| model | ours (s) | reference (s) | ours / reference | min / min | instructions traced | guards | FX nodes |")
    print("|---|---|---|---|---|---|---|---|")
    for file, variant, against in selected(only):
        r = in_process(file, variant, against, args.rounds, args.threads)
        o, f = r["ours"], r["ref"]
        if o["graphs"] != 1 or o["breaks"] != 0:
            raise RuntimeError(f"{file}: {o['graphs']} graphs, {o['breaks']} breaks")
        mo, mf = statistics.median(o["times"]), statistics.median(f["times"])

        def ratio(key: str) -> str:
            return f"{o[key]} / {f[key]} = {o[key] / f[key]:.2f}"

        print(f"| {Path(file).stem} {variant} | {mo:.2f} | {mf:.2f} ({against}) | {mo / mf:.2f} | "
              f"{min(o['times']) / min(f['times']):.2f} | {ratio('steps')} | {ratio('guards')} | {ratio('nodes')} |", flush=True)
    return 0


def measure(kind: str, file: str, variant: str | None, against: str, backend: str, threads: int) -> float:
    with tempfile.TemporaryDirectory() as cache:
        return run_child(CHILD, threads, [kind, file, str(variant), against, backend], TORCHINDUCTOR_CACHE_DIR=cache)["first_call"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", default="inductor", choices=["inductor", "eager"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated model stems (default: all six)")
    ap.add_argument("--in-process", action="store_true", help="dynamo's tracing, both models in one warm interpreter (see above)")
    args = ap.parse_args()
    only = {s for s in args.only.split(",") if s}
    if args.in_process:
        return main_in_process(args, only)
    print(f"# first-call torch.compile time ({args.backend}), cold cache, batch 2, {args.threads} threads")
    print(f"# {machine()}")
    print("| model | ours (s) | reference (s) | ours / reference |")
    print("|---|---|---|---|")
    for file, variant, against in selected(only):
        ours, ref = [], []
        for _ in range(args.rounds):
            ours.append(measure("ours", file, variant, against, args.backend, args.threads))
            ref.append(measure("ref", file, variant, against, args.backend, args.threads))
        o, r = statistics.median(ours), statistics.median(ref)
        print(f"| {Path(file).stem} {variant} | {o:.1f} | {r:.1f} ({against}) | {o / r:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
