"""Diagram options and files: `--depth`/`--rankdir`/`-o` parsing, number and shape text,
and writing a drawn diagram (DOT text, or an image through Graphviz's `dot`) atomically."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import graphviz

from archdsl.errors import ArchError, Span

FORMATS = ("svg", "png", "pdf", "dot")
RANKDIRS = ("TB", "LR")
DEPTHS = (0, 1, "full")  # levels of detail; --depth 2 and more mean "full"

INSTALL_HINT = ("install Graphviz (`apt install graphviz`, `brew install graphviz` or "
                "`conda install -c conda-forge graphviz`), or write DOT text with `-o FILE.dot`")


# ---- options -------------------------------------------------------------------------
def parse_depth(value: Any) -> int | str:
    """0, 1 or "full"; a larger number means "full" (there is no more detail to show)."""
    text = str(value).strip().lower()
    if text == "full":
        return "full"
    if isinstance(value, bool) or not re.fullmatch(r"\d+", text):
        raise ArchError(f"bad depth `{value}`", Span("--depth", 1, 1, max(1, len(str(value))), str(value)),
                        "use 0 (sections), 1 (one block per stage) or full (every op)")
    return int(text) if int(text) < 2 else "full"


def parse_rankdir(value: str) -> str:
    v = str(value).strip().upper()
    if v not in RANKDIRS:
        raise ArchError(f"bad rankdir `{value}`", Span("--rankdir", 1, 1, max(1, len(str(value))), str(value)),
                        "use TB (top to bottom) or LR (left to right)")
    return v


def output_format(path: str | os.PathLike) -> str:
    text = str(path)
    fmt = Path(text).suffix.lower().lstrip(".")
    if fmt == "gv":
        fmt = "dot"
    if fmt not in FORMATS:
        raise ArchError(f"cannot tell the image format of `{text}`", Span("-o", 1, 1, max(1, len(text)), text),
                        "end the output name in .svg, .png, .pdf or .dot")
    return fmt


# ---- text ----------------------------------------------------------------------------
def fmt_count(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1e3:.1f}K"
    if n < 1_000_000_000:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e9:.2f}G"


def fmt_shape(shape) -> str:
    return "×".join(str(v) for v in shape) if shape else "?"


def fmt_shape_range(shapes: list) -> str:
    """`96×56×56`, or per dimension first–last when the shapes differ: `64–256×56×56`."""
    first, last = shapes[0], shapes[-1]
    if all(sh == first for sh in shapes) or any(len(sh) != len(first) for sh in shapes):
        return fmt_shape(first)
    return "×".join(str(a) if a == b else f"{a}–{b}" for a, b in zip(first, last))


# ---- entry points ----------------------------------------------------------------------
def write(dot: graphviz.Digraph, out: str | os.PathLike) -> Path:
    """Write the diagram in the format the file name says, atomically (never a partial file)."""
    out = Path(out)
    fmt = output_format(out)
    if fmt == "dot":
        data = dot.source.encode("utf-8")
    else:
        if shutil.which("dot") is None:
            raise ArchError(f"cannot write `{out}`: the Graphviz `dot` program is not installed",
                            Span("-o", 1, 1, max(1, len(str(out))), str(out)), INSTALL_HINT)
        try:
            data = dot.pipe(format=fmt)
        except graphviz.ExecutableNotFound:
            raise ArchError(f"cannot write `{out}`: the Graphviz `dot` program is not installed",
                            Span("-o", 1, 1, max(1, len(str(out))), str(out)), INSTALL_HINT) from None
    _write_atomic(out, data)
    return out


def _write_atomic(out: Path, data: bytes) -> None:
    from archdsl.fileio import write_atomic

    try:
        write_atomic(out, data)
    except OSError as e:
        raise ArchError(f"cannot write `{out}`: {e.strerror or e}", Span("-o", 1, 1, max(1, len(str(out))), str(out)),
                        "the output's folder must exist and be writable") from None
