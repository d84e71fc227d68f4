"""Reading `.arch` files: size limit, UTF-8 decoding, located errors (no torch import, so
that `archdsl fmt` starts fast)."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

from archdsl.errors import ArchError, Span

MAX_SOURCE_BYTES = 1_000_000


def read_source(path: str | os.PathLike) -> str:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ArchError("no such file", Span(str(path), 1, 1), _missing_hint(p)) from None
    except IsADirectoryError:
        raise ArchError("is a directory, not an .arch file", Span(str(path), 1, 1)) from None
    except OSError as e:
        raise ArchError(f"cannot read file: {e.strerror}", Span(str(path), 1, 1)) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise ArchError(f"file is larger than {MAX_SOURCE_BYTES:,} bytes", Span(str(path), 1, 1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        shown = data.split(b"\n")[line - 1].decode("utf-8", "replace")
        raise ArchError("not UTF-8 text (binary data?)", Span(str(path), line, col, 1, shown), "an .arch file is plain text") from None


def _missing_hint(path: Path) -> str:
    """`convnext.arch` typed in a directory without it: the zoo model is `convnext`, by name."""
    from archdsl import catalog

    names = catalog.models()
    if path.stem in names:
        return f"`{path.stem}` is a zoo model: name it without the path and .arch (e.g. `archdsl compile {path.stem}`)"
    close = difflib.get_close_matches(path.stem, list(names), n=1, cutoff=0.8)
    if close:
        return f"check the path; or did you mean the zoo model `{close[0]}` (named without .arch)?"
    return "check the path, or name a zoo model (`archdsl zoo` lists them)"
