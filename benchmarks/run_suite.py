"""Benchmark suite: each model against its reference in the same run; writes a markdown
table of ratios (ours / reference) to docs/performance.md (or --out).

    python benchmarks/run_suite.py [--threads 2] [--batch 8] [--compile] [--no-inference] [--note TEXT] [--out docs/performance.md]

Columns: build time, eager throughput, inference mode (ours after the inference passes:
BatchNorm folding, reparameterization, dropout removal, channels-last weights for conv
nets) against the reference's eager
model, compiled throughput (both models through inductor, default mode) with --compile,
and peak memory.

Models whose zoo file does not exist yet are listed as skipped, not silently dropped.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SUITE = [
    ("zoo/convnext.arch", "tiny", "torchvision:convnext_tiny"),
    ("zoo/resnet.arch", "resnet50", "torchvision:resnet50"),
    ("zoo/mobilenet_v3.arch", "large", "torchvision:mobilenet_v3_large"),
    ("zoo/efficientnet.arch", "b0", "torchvision:efficientnet_b0"),
    ("zoo/vit.arch", "small", "timm:vit_small_patch16_224"),
    ("zoo/swin.arch", "tiny", "torchvision:swin_t"),
]


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, Python {platform.python_version()}, torch {torch.__version__}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--compile", action="store_true")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    ap.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--train", action="store_true", help="a training-step column (autocast for bfloat16)")
    ap.add_argument("--no-inference", action="store_true", help="skip the inference-mode column")
    ap.add_argument("--note", default="", help="a line about the conditions (e.g. a shared, loaded machine)")
    ap.add_argument("--only", default="", help="comma-separated model stems to run (default: all)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "performance.md"))
    args = ap.parse_args()

    import torch

    from archdsl.bench import run

    torch.set_num_threads(args.threads)
    rows, skipped = [], []
    inference = not args.no_inference
    only = {s for s in args.only.split(",") if s}
    for file, variant, against in SUITE:
        if only and Path(file).stem not in only:
            continue
        if not (ROOT / file).exists():
            skipped.append(f"{file} ({variant}): zoo file not written yet")
            continue
        r = run(str(ROOT / file), variant, against, batch=args.batch, compile=args.compile, repeats=args.repeats,
                inference=inference, device=args.device, dtype=getattr(torch, args.dtype), channels_last=args.channels_last,
                train=args.train, memory=args.device == "cuda" or not args.train)
        print(r, flush=True)
        rows.append(r)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    lines = [
        "# Performance",
        "",
        f"Measured by `python benchmarks/run_suite.py --threads {args.threads} --batch {args.batch}"
        + (" --compile" if args.compile else "") + (f" --device {args.device}" if args.device != "cpu" else "")
        + (f" --dtype {args.dtype}" if args.dtype != "float32" else "") + (" --channels-last" if args.channels_last else "")
        + (" --train" if args.train else "") + f"` at commit {commit}.",
        f"Machine: {machine()}; {args.device}, {args.threads} threads, batch {args.batch}, {args.dtype}, eval mode.",
        *([args.note] if args.note else []),
        "Each ratio is ours / reference measured in the same run (medians of interleaved repeats after warm-up):",
        "throughput ratios above 1 mean we are faster; build-time and memory ratios below 1 mean we are cheaper.",
        *(["Inference mode: ours after `archdsl.passes.inference` (BatchNorm folding, reparameterization, dropout",
           "removal, channels-last weights for conv nets) against the reference's plain eager model, timed in the",
           "same rounds as the eager column."]
          if inference else []),
        *(["Compiled: both models through `torch.compile` (inductor, default mode); first-call compile time in brackets."]
          if args.compile else []),
        "",
        "| model | reference | build time | eager throughput | " + ("inference mode | " if inference else "")
        + ("training step | " if args.train else "") + ("compiled throughput | " if args.compile else "") + "peak memory |",
        "|---|---|---|---|" + ("---|" if inference else "") + ("---|" if args.train else "") + ("---|" if args.compile else "") + "---|",
    ]
    for r in rows:
        name = f"{Path(r['file']).stem} {r['variant']}"
        b, e = r["build_s"], r["eager_ips"]
        cells = [name, r["against"], f"{b['ratio']:.2f} ({b['ours']:.2f}s / {b['ref']:.2f}s)",
                 f"{e['ratio']:.2f} ({e['ours']:.1f} / {e['ref']:.1f} img/s)"]
        if inference:
            i = r["inference_ips"]
            cells.append(f"{i['ratio']:.2f} ({i['ours']:.1f} / {i['ref']:.1f} img/s)")
        if args.train:
            t = r["train_ips"]
            cells.append(f"{t['ratio']:.2f} ({t['ours']:.1f} / {t['ref']:.1f} img/s)")
        if args.compile:
            c, cs = r["compiled_ips"], r["compile_s"]
            cells.append(f"{c['ratio']:.2f} ({c['ours']:.1f} / {c['ref']:.1f} img/s; compile {cs['ours']:.0f}s / {cs['ref']:.0f}s)")
        m = r.get("peak_mb")
        cells.append(f"{m['ratio']:.2f} ({m['ours']:.0f} / {m['ref']:.0f} MB)" if m else "not measured")
        lines.append("| " + " | ".join(cells) + " |")
    if skipped:
        lines += ["", "Not measured: " + "; ".join(skipped) + "."]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
