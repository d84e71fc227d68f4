"""Reading `.arch` files: size limit, UTF-8 decoding, located errors, and where the zoo's
files are (a source checkout's zoo/, or the installed package `archdsl.zoo`). No torch
import, so that `archdsl fmt` starts fast."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Callable

from archdsl.errors import ArchError, Span

MAX_SOURCE_BYTES = 1_000_000


def read_source(path: str | os.PathLike, missing_hint: Callable[[Path], str] | None = None) -> str:
    """The text of an `.arch` file; every failure a located error (`missing_hint(path)`: the
    hint for a file that does not exist, e.g. the zoo's names, from archdsl.catalog)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ArchError("no such file", Span(str(path), 1, 1), missing_hint(p) if missing_hint else "check the path") from None
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


def zoo_dir() -> Path | None:
    """The zoo tree: a source checkout's zoo/ if there is one, else the installed `archdsl.zoo`."""
    root = Path(__file__).resolve().parents[1]
    if (root / "zoo").is_dir() and (root / "pyproject.toml").is_file():
        return root / "zoo"
    return _installed_zoo()


@functools.lru_cache(maxsize=1)
def _installed_zoo() -> Path | None:
    try:
        tree = resources.files("archdsl.zoo")
    except ModuleNotFoundError:  # pragma: no cover - a broken install
        return None
    if isinstance(tree, Path):  # an ordinary install: the package's own directory
        return tree
    # a zipped install (or any other Traversable): copy the tree out once per process
    target = Path(tempfile.mkdtemp(prefix="archdsl-zoo-"))
    atexit.register(shutil.rmtree, target, True)
    _copy_tree(tree, target)
    return target


def _copy_tree(tree, target: Path) -> None:
    for item in tree.iterdir():
        if item.is_dir():
            (target / item.name).mkdir()
            _copy_tree(item, target / item.name)
        elif item.name.endswith(".arch"):
            (target / item.name).write_bytes(item.read_bytes())
