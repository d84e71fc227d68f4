"""The runtime library as source: the classes and functions of `archdsl.runtime` that a
generated file uses, copied from their one definition with their dependencies.

`archdsl/runtime/*.py` is plain PyTorch (`LayerNorm2d`, `Attention`, `WindowAttention`,
`Stage`, `init_kaiming`, ...). A generated file holds the definitions its code names,
each copied verbatim (read from the runtime's source files with `ast`, so writing source
imports no torch), dependencies first, in the runtime's own order. A plugin's layer
(a `Call` whose function is a class object) is imported from its module instead.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

RUNTIME_DIR = Path(__file__).resolve().parents[2] / "runtime"
# the runtime's modules in the order their definitions are written into a file
RUNTIME_MODULES = ("rounding", "functions", "init", "layers", "padding", "positions", "attention", "relative", "stages", "network")


@dataclass(frozen=True)
class Definition:
    name: str
    module: str
    order: int
    source: str
    needs: frozenset[str]  # other runtime definitions it reads
    imports: frozenset[str]  # "math", "F": the imports it needs beyond torch and nn


@functools.lru_cache(maxsize=None)
def definitions() -> dict[str, Definition]:
    """Every top-level class and function of the runtime library, by name."""
    raw: list[tuple[str, str, str, set[str]]] = []
    for module in RUNTIME_MODULES:
        text = (RUNTIME_DIR / f"{module}.py").read_text(encoding="utf-8")
        for node in ast.parse(text).body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
                source = ast.get_source_segment(text, node, padded=False) or ""
                if node.decorator_list:
                    start = node.decorator_list[0]
                    lines = text.splitlines()
                    source = "\n".join(lines[start.lineno - 1: node.end_lineno])
                names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
                raw.append((node.name, module, source, names))
    known = {name for name, _, _, _ in raw}
    out = {}
    for k, (name, module, source, names) in enumerate(raw):
        out[name] = Definition(name, module, k, source, frozenset((names & known) - {name}),
                               frozenset(n for n in ("math", "F") if n in names))
    return out


def names() -> frozenset[str]:
    return frozenset(definitions())


def closure(used: set[str]) -> list[Definition]:
    """`used` runtime names and what they need, dependencies first (runtime order)."""
    defs = definitions()
    todo, seen = [n for n in used if n in defs], set()
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        todo += defs[n].needs
    return sorted((defs[n] for n in seen), key=lambda d: d.order)


def referenced(tree: ast.AST) -> set[str]:
    """The runtime names generated code reads."""
    known = names()
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in known}
