"""Does channels-last pay? The inference-mode model in the default layout and in
channels-last (weights only, and weights + input) against the reference's eager model.

    python benchmarks/bench_layout.py [--only resnet,convnext] [--repeats 7] [--threads 2] [--batch 8]

Prints img/s and the ratio to the reference's eager per variant; the measurements behind
the rule in archdsl/passes/channels_last.py (docs/performance.md).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = {
    "resnet": ("zoo/resnet.arch", "resnet50", "torchvision:resnet50"),
    "efficientnet": ("zoo/efficientnet.arch", "b0", "torchvision:efficientnet_b0"),
    "mobilenet_v3": ("zoo/mobilenet_v3.arch", "large", "torchvision:mobilenet_v3_large"),
    "convnext": ("zoo/convnext.arch", "tiny", "torchvision:convnext_tiny"),
    "vit": ("zoo/vit.arch", "small", "timm:vit_small_patch16_224"),
    "swin": ("zoo/swin.arch", "tiny", "torchvision:swin_t"),
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", default="", help="comma-separated names (default: all)")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    args = ap.parse_args()
    import torch

    import archdsl
    from archdsl.bench import reference_constructor
    from archdsl.passes.inference import optimize_for_inference

    torch.set_num_threads(args.threads)
    names = [n for n in args.only.split(",") if n] or list(MODELS)
    for name in names:
        file, variant, against = MODELS[name]
        ref = reference_constructor(against)().eval()
        default = optimize_for_inference(archdsl.build(str(ROOT / file), variant), ["remove_dropout", "reparameterize", "fold_batchnorm"])
        nhwc = copy.deepcopy(default).to(memory_format=torch.channels_last)
        ref_nhwc = copy.deepcopy(ref).to(memory_format=torch.channels_last)
        x = torch.randn(args.batch, *default.arch_info["input_shape"])
        xc = x.contiguous(memory_format=torch.channels_last)
        runs = {"ref": (ref, x), "default": (default, x), "nhwc_weights": (nhwc, x), "nhwc_both": (nhwc, xc),
                "ref_nhwc": (ref_nhwc, xc)}
        times: dict[str, list[float]] = {k: [] for k in runs}
        with torch.no_grad():
            for m, xx in runs.values():
                m(xx)
                m(xx)
            for _ in range(args.repeats):
                for k, (m, xx) in runs.items():
                    t = time.perf_counter()
                    m(xx)
                    times[k].append(time.perf_counter() - t)
        ips = {k: args.batch / statistics.median(v) for k, v in times.items()}
        print(name, " ".join(f"{k}={v:.1f} img/s ({v / ips['ref']:.2f})" for k, v in ips.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
