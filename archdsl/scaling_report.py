"""What `archdsl scale`, `fit` and `sample` print and write: tables, variant lines, sampled
files, the params/MACs plot (matplotlib, the `plot` extra) and measured throughput."""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from archdsl.errors import ArchError, Span
from archdsl.scaling import Candidate, Space


def variant_name(text: str) -> str:
    """A variant name from a budget: `2x` -> `2x`, `1.5G` -> `1_5g`."""
    return re.sub(r"\W", "_", text.strip()).lower()


def _fmt_value(v: Any) -> str:
    from archdsl.ir.values import format_value

    return format_value(v)


def _pct(x: int, target: float) -> str:
    return f"{(x / target - 1) * 100:+.1f}%"


def table(cands: list[Candidate], metric: str, target: float | None, extra: tuple[str, ...] = (), limit: int = 12) -> str:
    """Candidates as aligned columns: notes (phi, coefficients), changed values, params, MACs."""
    if target is not None:
        cands = sorted(cands, key=lambda c: abs(c.metric(metric) / target - 1) if c.ok else float("inf"))
    shown = cands[:limit]
    names = list(dict.fromkeys(k for c in shown for k in c.values))
    header = list(extra) + names + ["params", "MACs"] + (["vs target"] if target is not None else [])
    rows = []
    for c in shown:
        row = [f"{c.note[k]:.4g}" if isinstance(c.note.get(k), float) else str(c.note.get(k, "")) for k in extra]
        row += [_fmt_value(c.values.get(k, "")) for k in names]
        if c.ok:
            row += [f"{c.params:,}", f"{c.macs:,}"] + ([_pct(c.metric(metric), target)] if target is not None else [])
        else:
            row += ["does not check:", c.error or ""] + ([""] if target is not None else [])
        rows.append(row)
    widths = [max(len(r[k]) for r in [header] + rows) for k in range(len(header))]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(r, widths)) for r in rows]
    if len(cands) > limit:
        lines.append(f"({len(cands) - limit} more candidates)")
    return "\n".join(lines)


def candidate_json(c: Candidate) -> dict:
    return {"values": dict(c.values), "params": c.params, "macs": c.macs, "error": c.error,
            **{k: v for k, v in c.note.items()}}


# ---- files ----------------------------------------------------------------------------------
def with_variant(source: str, line: str) -> str:
    """The source with `line` inserted before its first `variant` line (so it is the file's
    default model), or appended when it has none."""
    lines = source.splitlines()
    first = next((k for k, text in enumerate(lines) if text.startswith("variant")), None)
    if first is None:
        return source.rstrip("\n") + "\n\n" + line + "\n"
    return "\n".join(lines[:first] + [line] + lines[first:]) + "\n"


def write_samples(space: Space, samples: list[tuple[str, Candidate]], out_dir: str, stem: str) -> list[Path]:
    """One `.arch` file per sample (the source, with the sample as its first variant), all
    written or none: files go to a temporary folder first, then are moved in."""
    from archdsl.fileio import write_atomic

    d = Path(out_dir)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ArchError(f"cannot create `{out_dir}`: {e.strerror or e}", Span("-o", 1, 1, max(1, len(out_dir)), out_dir)) from None
    paths = []
    with tempfile.TemporaryDirectory(dir=d, prefix=".archdsl-sample-") as tmp:
        staged = []
        for name, c in samples:
            text = with_variant(space.program.source, space.variant_line(name, c.values))
            p = Path(tmp) / f"{stem}_{name}.arch"
            write_atomic(p, text)
            staged.append(p)
        for p in staged:
            os.replace(p, d / p.name)
            paths.append(d / p.name)
    return paths


# ---- plot and throughput ---------------------------------------------------------------------
def measure_throughput(space: Space, c: Candidate, batch: int, repeats: int = 3) -> float:
    """Images per second of the built network (eval, CPU, float32), the best of `repeats` runs."""
    import time

    import torch

    from archdsl.api import build

    model = build(space.program, space.variant, **c.values).eval()
    from archdsl.api import compile_graph

    shape = compile_graph(space.program, space.variant, **c.values).input_shape
    x = torch.randn(batch, *shape)
    best = float("inf")
    with torch.no_grad():
        model(x)  # warm-up
        for _ in range(repeats):
            t = time.perf_counter()
            model(x)
            best = min(best, time.perf_counter() - t)
    return batch / best


def plot(path: str, title: str, base: Candidate, samples: list[Candidate], macs_range: tuple[float, float] | None = None,
         throughput: list[float] | None = None) -> None:
    """Params vs MACs of the samples (and MACs vs measured throughput), to .svg/.png/.pdf, atomically."""
    suffix = Path(path).suffix.lower()
    if suffix not in (".svg", ".png", ".pdf"):
        raise ArchError(f"cannot plot to `{path}`", Span("--plot", 1, 1, max(1, len(path)), path), "write .svg, .png or .pdf")
    try:
        import matplotlib
    except ImportError:
        raise ArchError("plotting needs matplotlib", Span("--plot", 1, 1, max(1, len(path)), path),
                        "install the extra: pip install 'archdsl[plot]'") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = 2 if throughput else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.4 * panels, 4.8), squeeze=False)
    ax = axes[0][0]
    macs = [c.macs / 1e9 for c in samples]
    params = [c.params / 1e6 for c in samples]
    if macs_range is not None:
        ax.axvspan(macs_range[0] / 1e9, macs_range[1] / 1e9, color="#dde8f5", label="MACs budget")
    ax.scatter(macs, params, s=18, color="#1f77b4", label=f"{len(samples)} samples")
    ax.scatter([base.macs / 1e9], [base.params / 1e6], marker="*", s=160, color="#d62728", label="base variant")
    if macs_range is not None:
        lo, hi = macs_range[0] / 1e9, macs_range[1] / 1e9
        xs = macs + [base.macs / 1e9, lo, hi]
        pad = 0.08 * (max(xs) - min(xs) or 1)
        ax.set_xlim(min(xs) - pad, max(xs) + pad)
    ax.set_xlabel("MACs (G)")
    ax.set_ylabel("parameters (M)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    if throughput:
        ax2 = axes[0][1]
        ax2.scatter(macs, throughput, s=18, color="#2ca02c")
        ax2.set_xlabel("MACs (G)")
        ax2.set_ylabel("images / s (CPU, measured)")
        ax2.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    from archdsl.fileio import write_atomic

    buf = io.BytesIO()
    try:
        fig.savefig(buf, format=suffix[1:], metadata={"Date": None} if suffix == ".svg" else None)
        write_atomic(path, buf.getvalue())
    except OSError as e:
        raise ArchError(f"cannot write `{path}`: {e.strerror or e}", Span("--plot", 1, 1, max(1, len(path)), path)) from None
    finally:
        plt.close(fig)
