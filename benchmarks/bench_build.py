"""Build time (text -> nn.Module) against the reference constructor, interleaved.

    python benchmarks/bench_build.py [--repeats 15] [--threads 2] [--only mobilenet_v3,efficientnet]

For each model: one warm-up build of each (so the grammar analysis and imports are not
timed), then `--repeats` rounds of `archdsl.build(file, variant)` followed by the
reference constructor, each after a `gc.collect()`; prints the medians and ours / reference.
The user's own file is read and parsed afresh on every build (only `use`d block libraries
are reused within the process, keyed by their text).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "benchmarks"))
from run_suite import SUITE  # noqa: E402  (the suite's models, each against its reference)

MODELS = SUITE


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated model stems (default: all)")
    args = ap.parse_args()
    import torch

    import archdsl
    from archdsl.bench import reference_constructor

    torch.set_num_threads(args.threads)
    only = {s for s in args.only.split(",") if s}
    for file, variant, against in MODELS:
        if only and Path(file).stem not in only:
            continue
        path, ref = str(ROOT / file), reference_constructor(against)
        archdsl.build(path, variant)
        ref()
        ours_t, ref_t = [], []
        for _ in range(args.repeats):
            gc.collect()
            t = time.perf_counter()
            archdsl.build(path, variant)
            ours_t.append(time.perf_counter() - t)
            gc.collect()
            t = time.perf_counter()
            ref()
            ref_t.append(time.perf_counter() - t)
        a, b = statistics.median(ours_t), statistics.median(ref_t)
        print(f"{Path(file).stem} {variant}: ours {a * 1000:.1f} ms, {against} {b * 1000:.1f} ms, ratio {a / b:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
