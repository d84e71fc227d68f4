"""`archdsl bench`: our model against its reference, measured in the same run.

For each of ours and the reference: build time (text -> module vs the library's
constructor), eager forward throughput, optionally ours after the inference passes
(`--inference`: BatchNorm folding, reparameterization, dropout removal, channels-last
weights for conv nets) against the
reference's eager model, optionally `torch.compile` (inductor, default mode, both models
compiled the same way: first-call compile time and throughput), and peak
memory of a forward pass (CUDA: the allocator's peak; CPU: the peak resident-set growth
of a child process during one forward, after resetting Linux's peak-RSS mark). Timings interleave ours and the reference
after warm-up and report medians; ratios are ours / reference (higher is better for
throughput, lower for build time and memory).
"""

from __future__ import annotations

import gc
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import torch


def reference_constructor(spec: str) -> Callable[[], torch.nn.Module]:
    """`timm:NAME` or `torchvision:NAME` -> a function building that model (random weights)."""
    lib, _, name = spec.partition(":")
    if lib == "timm":
        import timm

        return lambda: timm.create_model(name, pretrained=False)
    if lib in ("torchvision", "tv"):
        import torchvision

        return lambda: getattr(torchvision.models, name)()
    raise ValueError(f"--against must be timm:NAME or torchvision:NAME, got {spec!r}")


@dataclass
class Result:
    build_s: float = 0.0
    eager_ips: float = 0.0
    compiled_ips: float | None = None
    peak_mb: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _median_time(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def throughput(models: dict[str, torch.nn.Module], x: torch.Tensor, device: str, warmup: int, repeats: int) -> dict[str, float]:
    """Images per second for each model, interleaving the models round by round."""
    for m in models.values():
        for _ in range(warmup):
            with torch.no_grad():
                m(x)
    times: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(repeats):
        for k, m in models.items():
            _sync(device)
            t = time.perf_counter()
            with torch.no_grad():
                m(x)
            _sync(device)
            times[k].append(time.perf_counter() - t)
    return {k: x.shape[0] / statistics.median(v) for k, v in times.items()}


def _peak_cpu_mb(kind: str, arg: str, variant: str | None, batch: int, shape: tuple[int, ...], overrides: dict) -> float:
    code = f"""
import resource, torch, json
torch.set_num_threads({torch.get_num_threads()})
kind, arg, variant, overrides = {kind!r}, {arg!r}, {variant!r}, {json.dumps(overrides)!r}
if kind == "ours":
    import archdsl
    m = archdsl.build(arg, variant, **json.loads(overrides))
else:
    from archdsl.bench import reference_constructor
    m = reference_constructor(arg)()
m.eval()
x = torch.randn({batch}, *{tuple(shape)!r})
import re
def status(key):
    return int(re.search(key + r":\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) / 1024
open("/proc/self/clear_refs", "w").write("5")  # reset the peak-RSS mark (Linux)
base = status("VmRSS")
with torch.no_grad():
    m(x)
print(status("VmHWM") - base)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def run(file: str, variant: str | None, against: str, batch: int = 8, device: str = "cpu", compile: bool = False,
        warmup: int = 2, repeats: int = 5, overrides: dict | None = None, memory: bool = True,
        channels_last: bool = False, dtype: torch.dtype = torch.float32, inference: bool = False) -> dict[str, Any]:
    import archdsl

    overrides = overrides or {}
    ref_fn = reference_constructor(against)
    build_ours = _median_time(lambda: archdsl.build(file, variant, **overrides), 3)
    build_ref = _median_time(ref_fn, 3)
    ours = archdsl.build(file, variant, **overrides).eval()
    ref = ref_fn().eval()
    shape = tuple(ours.arch_info["input_shape"])
    x = torch.randn(batch, *shape, device=device, dtype=dtype)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    models = {"ours": ours, "ref": ref}
    if inference:  # ours after the inference passes, timed in the same rounds as the eager pair
        from archdsl.passes.inference import optimize_for_inference

        models["ours_inference"] = optimize_for_inference(ours)
    # memory format only when asked: a plain .to(memory_format=contiguous) would undo the
    # inference passes' own channels-last choice
    models = {k: m.to(device=device, dtype=dtype, **({"memory_format": fmt} if channels_last else {}))
              for k, m in models.items()}
    if channels_last:
        x = x.to(memory_format=torch.channels_last)
    eager = throughput(models, x, device, warmup, repeats)
    result: dict[str, Any] = {
        "file": file, "variant": variant, "against": against, "batch": batch, "device": device,
        "threads": torch.get_num_threads(), "input_shape": list(shape),
        "build_s": {"ours": build_ours, "ref": build_ref, "ratio": build_ours / build_ref},
        "eager_ips": {"ours": eager["ours"], "ref": eager["ref"], "ratio": eager["ours"] / eager["ref"]},
    }
    if inference:
        # ours folded / reparameterized against the reference's plain eager model
        result["inference_ips"] = {"ours": eager["ours_inference"], "ref": eager["ref"],
                                   "ratio": eager["ours_inference"] / eager["ref"]}
    if compile:
        # both compiled the same way: inductor, default mode, from the eval-mode float32 models
        torch._dynamo.reset()
        c_ours, c_ref = torch.compile(models["ours"]), torch.compile(models["ref"])
        t = time.perf_counter()
        with torch.no_grad():
            c_ours(x)
        t_ours = time.perf_counter() - t
        t = time.perf_counter()
        with torch.no_grad():
            c_ref(x)
        t_ref = time.perf_counter() - t
        comp = throughput({"ours": c_ours, "ref": c_ref}, x, device, max(warmup, 2), repeats)
        result["compiled_ips"] = {**comp, "ratio": comp["ours"] / comp["ref"]}
        result["compile_s"] = {"ours": t_ours, "ref": t_ref, "ratio": t_ours / t_ref}
    if memory:
        if device == "cuda":
            peaks = {}
            for k, m in (("ours", ours), ("ref", ref)):
                gc.collect()
                torch.cuda.reset_peak_memory_stats()
                with torch.no_grad():
                    m(x)
                peaks[k] = torch.cuda.max_memory_allocated() / 2**20
        else:
            peaks = {"ours": _peak_cpu_mb("ours", file, variant, batch, shape, overrides),
                     "ref": _peak_cpu_mb("ref", against, None, batch, shape, {})}
        result["peak_mb"] = {**peaks, "ratio": peaks["ours"] / peaks["ref"] if peaks["ref"] else float("nan")}
    return result


def format_result(r: dict[str, Any]) -> str:
    lines = [f"{r['file']} {r['variant'] or ''} vs {r['against']}  (batch {r['batch']}, {r['device']}, {r['threads']} threads)"]
    rows = [("build time (s)", "build_s", "{:.3f}"), ("eager (img/s)", "eager_ips", "{:.1f}"),
            ("inference (img/s)", "inference_ips", "{:.1f}"), ("compiled (img/s)", "compiled_ips", "{:.1f}"),
            ("compile time (s)", "compile_s", "{:.1f}"), ("peak memory (MB)", "peak_mb", "{:.0f}")]
    lines.append(f"{'':<18}{'ours':>12}{'reference':>12}{'ratio':>8}")
    for label, key, f in rows:
        if key in r:
            v = r[key]
            lines.append(f"{label:<18}{f.format(v['ours']):>12}{f.format(v['ref']):>12}{v['ratio']:>8.2f}")
    return "\n".join(lines)
