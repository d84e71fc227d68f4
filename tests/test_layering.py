"""The package's structure: one direction of imports, torch only where tensors are made, small modules.

    syntax -> ir -> passes -> backends        ops and runtime are leaves
    (errors, source, fileio: shared helpers every layer may use)

The imports are read from the code (every `import`, at module level or inside a function,
except those under `if TYPE_CHECKING:`), so a lazy import cannot hide a cycle.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "archdsl"
MAX_LINES = 600

# what each layer may import (besides itself and the shared helpers)
SHARED = {"archdsl", "archdsl.errors", "archdsl.source", "archdsl.fileio", "archdsl.catalog"}
ALLOWED = {
    "archdsl.runtime": set(),
    "archdsl.ops": {"archdsl.runtime"},  # archdsl.runtime.rounding: the DSL's rounding rules, no torch
    "archdsl.syntax": {"archdsl.ops"},  # did-you-mean hints name layer tokens
    "archdsl.ir": {"archdsl.syntax", "archdsl.ops", "archdsl.runtime"},
    "archdsl.passes": {"archdsl.syntax", "archdsl.ir", "archdsl.ops"},
    "archdsl.backends": {"archdsl.syntax", "archdsl.ir", "archdsl.ops", "archdsl.passes", "archdsl.runtime"},
}
# where torch may be imported: the runtime library, running generated code, the deploy form
# of a network, and the entry points that hand out torch models
TORCH_FREE = ["archdsl.ops", "archdsl.syntax", "archdsl.ir", "archdsl.passes", "archdsl.backends.codegen",
              "archdsl.backends.summary", "archdsl.backends.graphviz", "archdsl.backends.diagram_files", "archdsl.backends.diff", "archdsl.runtime.rounding",
              "archdsl.errors", "archdsl.source", "archdsl.fileio", "archdsl.api", "archdsl.cli"]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, top_level_only: bool = False) -> set[str]:
    """archdsl modules and third-party top-level packages `path` imports."""
    out: set[str] = set()
    todo: list[ast.AST] = [ast.parse(path.read_text())]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo += node.orelse
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names}
        if top_level_only and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        todo += list(ast.iter_child_nodes(node))
    return out


def _archdsl_module(name: str) -> str | None:
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name if name in MODULES and name.startswith("archdsl") else None


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for mod, path in MODULES.items():
        for name in _imports(path):
            target = _archdsl_module(name) if name.startswith("archdsl") else None
            if target is not None and target != mod:
                edges[mod].add(target)
    return edges


def _package(mod: str) -> str:
    return ".".join(mod.split(".")[:2])


def test_no_import_cycle_between_modules_or_packages():
    edges = _edges()
    modules = nx.DiGraph([(a, b) for a, bs in edges.items() for b in bs])
    assert list(nx.simple_cycles(modules)) == []
    packages = nx.DiGraph([(_package(a), _package(b)) for a, bs in edges.items() for b in bs if _package(a) != _package(b)])
    assert list(nx.simple_cycles(packages)) == []


def test_layers_import_in_one_direction():
    bad = []
    for mod, targets in _edges().items():
        layer = _package(mod)
        if layer not in ALLOWED:
            continue
        for t in targets:
            tl = _package(t)
            if tl != layer and tl not in SHARED and tl not in ALLOWED[layer]:
                bad.append(f"{mod} imports {t}")
    assert bad == []


def test_torch_only_where_tensors_are_made():
    bad = []
    for mod, path in MODULES.items():
        if any(mod == p or mod.startswith(p + ".") for p in TORCH_FREE):
            # api and cli hand out torch models: torch only inside the functions that do
            imports = _imports(path, top_level_only=mod in ("archdsl.api", "archdsl.cli"))
            if any(i == "torch" or i.startswith("torch.") for i in imports):
                bad.append(mod)
    assert bad == []


def test_modules_are_small():
    long = {mod: n for mod, path in MODULES.items() if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert long == {}
