"""Forward-pass time of the attention zoo models against their references, same run.

    PYTHONPATH=. python benchmarks/attention_zoo.py [--batch 8] [--device cpu|cuda] [--repeat 5]

Prints, per model, the median seconds per forward of ours and of the reference (eval,
no grad, float32) and the ratio ours / reference.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import timm
import torch
import torchvision

import archdsl

ZOO = Path(__file__).resolve().parents[1] / "zoo"
MODELS = [
    ("swin.arch", "tiny", 224, lambda: torchvision.models.swin_t()),
    ("swin_v2.arch", "tiny", 256, lambda: torchvision.models.swin_v2_t()),
    ("pvt_v2.arch", "b0", 224, lambda: timm.create_model("pvt_v2_b0")),
    ("botnet.arch", "botnet26t", 256, lambda: timm.create_model("botnet26t_256")),
]


def _time(model, x, repeat: int) -> float:
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(repeat):
            if x.is_cuda:
                torch.cuda.synchronize()
            t = time.perf_counter()
            model(x)
            if x.is_cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print(f"{'model':<24} {'ours s':>9} {'ref s':>9} {'ratio':>7}")
    for file, variant, res, make_ref in MODELS:
        ours = archdsl.build(ZOO / file, variant).eval().to(args.device)
        ref = make_ref().eval().to(args.device)
        x = torch.randn(args.batch, 3, res, res, device=args.device)
        a, b = _time(ours, x, args.repeat), _time(ref, x, args.repeat)
        print(f"{file + ':' + variant:<24} {a:>9.4f} {b:>9.4f} {a / b:>7.2f}")


if __name__ == "__main__":
    main()
