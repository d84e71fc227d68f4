"""What loading reference weights costs: pairing, copying and the verification forward.

    python benchmarks/bench_load_reference.py [--repeats 3] [--threads 2] [--only resnet50,vit_tiny]

For each model: the median over `--repeats` of
  - `load_state_dict`: the reference's own state dict into a second reference (the floor);
  - `pair`: `archdsl.map_state_dict` (two traced forwards on fake tensors, the pairing);
  - `load`: `archdsl.load_reference(..., verify=False)` (pairing and copying);
  - `load+verify`: `archdsl.load_reference(...)` (and the float64 forward of both models).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = {  # name: (zoo file, variant, reference)
    "resnet50": ("resnet.arch", "resnet50", "tv:resnet50"),
    "convnext_tiny": ("convnext.arch", "tiny", "tv:convnext_tiny"),
    "efficientnet_b0": ("efficientnet.arch", "b0", "tv:efficientnet_b0"),
    "vit_tiny": ("vit.arch", "tiny", "timm:vit_tiny_patch16_224"),
    "swin_tiny": ("swin.arch", "tiny", "tv:swin_t"),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated names (default: all)")
    args = ap.parse_args()
    import torch

    import archdsl
    from archdsl.weights.sources import construct

    torch.set_num_threads(args.threads)
    names = [n for n in MODELS if not args.only or n in args.only.split(",")]
    print(f"{'model':16} {'load_state_dict':>16} {'pair':>8} {'load':>8} {'load+verify':>12}  (seconds, median of {args.repeats})")
    for name in names:
        file, variant, ref_name = MODELS[name]
        ref = construct(ref_name)
        other = construct(ref_name)
        ours = archdsl.build(ROOT / "zoo" / file, variant)
        steps = {
            "load_state_dict": lambda: other.load_state_dict(ref.state_dict()),
            "pair": lambda: archdsl.map_state_dict(ref, ours),
            "load": lambda: archdsl.load_reference(ours, ref, verify=False),
            "load+verify": lambda: archdsl.load_reference(ours, ref),
        }
        times = {}
        for step, fn in steps.items():
            runs = []
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                fn()
                runs.append(time.perf_counter() - t0)
            times[step] = statistics.median(runs)
        print(f"{name:16} {times['load_state_dict']:16.2f} {times['pair']:8.2f} {times['load']:8.2f} {times['load+verify']:12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
