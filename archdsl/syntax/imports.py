"""`use "PATH"`: importing block definitions from block libraries (e.g. zoo/blocks/*.arch).

A `use` path is resolved relative to the importing file and must stay inside the
directory of the file being compiled (the root); a path not found there is looked up in
the zoo tree, so `use "blocks/resnet.arch"` works from any file. Libraries may `use`
other libraries; a cycle is an error at the `use` line that closes it. Imported blocks
keep their own source spans, so an error inside one points into the library file.
"""

from __future__ import annotations

import threading
from pathlib import Path

from archdsl.errors import ArchError, did_you_mean
from archdsl.source import zoo_dir
from archdsl.syntax import ast
from archdsl.syntax.parser import parse_source


def _base_dir(file: str) -> Path:
    if file.startswith("<") or file.startswith("--"):
        return Path.cwd().resolve()
    return Path(file).resolve().parent


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _available(text: str, zoo: Path | None) -> str:
    generic = "paths are relative to this file; the zoo's shared blocks are `blocks/NAME.arch`"
    if zoo is None or not (zoo / "blocks").is_dir():
        return "paths are relative to this file; this archdsl install has no zoo to look in (reinstall archdsl)"
    names = [f"blocks/{p.name}" for p in (zoo / "blocks").glob("*.arch")]
    return did_you_mean(text, names) or generic


def _locate(use: ast.Use, importer: str, root: Path) -> Path:
    text = use.path
    if not text:
        raise ArchError("empty `use` path", use.span, 'write e.g. `use "blocks/resnet.arch"`')
    if not text.endswith(".arch"):
        raise ArchError(f"`use` needs an .arch file, got `{text}`", use.span, f'write e.g. `use "{text}.arch"`')
    if Path(text).is_absolute() or text.startswith("~"):
        raise ArchError("`use` paths are relative, not absolute", use.span, "write the path relative to this file")
    zoo = zoo_dir()
    local = (_base_dir(importer) / text).resolve()
    if _inside(local, root) and local.is_file():
        return local
    if zoo is not None:
        zroot = zoo.resolve()
        in_zoo = (zroot / text).resolve()
        if _inside(in_zoo, zroot) and in_zoo.is_file():
            return in_zoo
    if not _inside(local, root):
        raise ArchError(f"`use \"{text}\"` leaves the directory of the file being compiled", use.span,
                        f"libraries must be under `{_display(root)}`, or in the zoo (`blocks/NAME.arch`)")
    raise ArchError(f"no block library `{text}`", use.span, _available(text, zoo))


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _kind(d: ast.BlockDef | ast.LayerDef) -> str:
    return "layer" if isinstance(d, ast.LayerDef) else "block"


def _own(program: ast.Program) -> dict[str, ast.BlockDef | ast.LayerDef]:
    """A file's own definitions: blocks and layers share one namespace."""
    return {**program.blocks, **program.layers}


def resolve_uses(program: ast.Program) -> ast.Program:
    """Merge the blocks and layers of every library `program` uses (transitively) into
    `program.blocks` and `program.layers`."""
    if not program.uses:
        return program
    root = _base_dir(program.file)
    me = None if program.file.startswith("<") else Path(program.file).resolve()
    cache: dict[Path, dict[str, ast.BlockDef | ast.LayerDef]] = {}
    imported = _import_all(program, root, (me,) if me else (), cache)
    own = _own(program)
    for name, d in imported.items():
        mine = own.get(name)
        if mine is not None and mine is not d:
            raise ArchError(f"{_kind(mine)} `{name}` is defined here and also imported", mine.span,
                            f"the imported {_kind(d)} is at {d.span}; rename one of them")
    program.blocks = {**{k: d for k, d in imported.items() if isinstance(d, ast.BlockDef)}, **program.blocks}
    program.layers = {**{k: d for k, d in imported.items() if isinstance(d, ast.LayerDef)}, **program.layers}
    return program


def _import_all(program: ast.Program, root: Path, stack: tuple[Path, ...], cache: dict) -> dict[str, ast.BlockDef | ast.LayerDef]:
    from archdsl.source import read_source

    out: dict[str, ast.BlockDef | ast.LayerDef] = {}
    for use in program.uses:
        path = _locate(use, program.file, root)
        if path in stack:
            chain = " -> ".join(_display(p) for p in stack[stack.index(path):] + (path,))
            raise ArchError(f"import cycle: {chain}", use.span, "a library cannot use itself, directly or through others")
        if path not in cache:
            shown = _display(path)
            lib = _parse_library(path, shown, read_source(path))
            zoo = zoo_dir()
            lib_root = zoo.resolve() if zoo is not None and _inside(path, zoo.resolve()) else root
            defs = dict(_import_all(lib, lib_root, stack + (path,), cache))
            for name, d in _own(lib).items():
                if name in defs and defs[name] is not d:
                    raise ArchError(f"{_kind(d)} `{name}` is defined here and also imported", d.span,
                                    f"the imported {_kind(defs[name])} is at {defs[name].span}; rename one of them")
                defs[name] = d
            cache[path] = defs
        for name, d in cache[path].items():
            if name in out and out[name] is not d:
                raise ArchError(f"{_kind(d)} `{name}` is imported twice", use.span,
                                f"from {out[name].span} and {d.span}; rename one of them")
            out[name] = d
    return out


# Parsed block libraries of this process, keyed by path, shown name and the file's text:
# a library used by many builds (zoo/blocks/*.arch) is parsed once, and an edited file
# (different text) is parsed again. The importing file itself is always parsed afresh.
_LIBRARIES: dict[tuple[Path, str], tuple[str, ast.Program]] = {}
_MAX_LIBRARIES = 64
_LIBRARIES_LOCK = threading.Lock()  # parses run in several threads (tests/syntax/test_parser_threads.py)


def _parse_library(path: Path, shown: str, text: str) -> ast.Program:
    key = (path, shown)
    hit = _LIBRARIES.get(key)
    if hit is not None and hit[0] == text:
        return hit[1]
    lib = parse_source(text, shown, library=True)
    with _LIBRARIES_LOCK:  # two threads evicting at once would pop the same oldest entry twice
        while len(_LIBRARIES) >= _MAX_LIBRARIES:
            _LIBRARIES.pop(next(iter(_LIBRARIES)))
        _LIBRARIES[key] = (text, lib)
    return lib


def parse_text(text: str, file: str = "<string>") -> ast.Program:
    """Parse `.arch` source text into an `ast.Program`, with its `use` imports resolved."""
    return resolve_uses(parse_source(text, file))
