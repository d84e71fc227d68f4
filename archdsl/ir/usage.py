"""Declarations nothing reads: a header parameter or a `let` that no expression, layer or
block of the file uses is an error at its declaration.

A name means only what the file does with it: `layer_scale` or `drop_path` in a header
does nothing by itself (layer scale and stochastic depth are written where they apply,
e.g. `default residual(scale=layer_scale, drop=drop_path)`), so declaring one that nothing
reads is a mistake, not a silent no-op. `dims` (the stages' widths `c`) and `depths` (the
stages' repeats) are read by the stage lines themselves.
"""

from __future__ import annotations

from archdsl.errors import ArchError
from archdsl.syntax import ast

IMPLICIT = {"dims", "depths"}  # read by stage lines: `c` is dims[i], `x[...]` is depths
_FOLD_HINTS = {"layer_scale": "layer scale is written where it applies: `default residual(scale=layer_scale)`",
               "drop_path": "stochastic depth is written where it applies: `default residual(drop=drop_path)`"}


def _reads(node, out: set[str]) -> None:
    """Every name an AST subtree reads: expression names and the words of layer tokens (a
    block-valued parameter is written as a token)."""
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Layer):
            out.add(n.word)
        if isinstance(n, (list, tuple)):
            todo += n
        elif isinstance(n, dict):
            todo += list(n.values())
        elif hasattr(n, "__dataclass_fields__"):
            todo += [getattr(n, f) for f in n.__dataclass_fields__ if f not in ("span", "kwarg_spans")]


def check_unused(program: ast.Program) -> None:
    reads: set[str] = set()
    for part in (program.sections, list(program.blocks.values()), program.defaults, program.lets, list(program.shared.values()),
                 program.input, program.init, [p.default for p in program.params if p.default is not None],
                 [a.value for v in program.variants.values() for a in v.assigns], list(getattr(program, "layers", {}).values())):
        _reads(part, reads)
    for p in program.params:
        if p.name not in reads and p.name not in IMPLICIT:
            raise ArchError(f"parameter `{p.name}` is declared but nothing in the file uses it", p.span,
                            _FOLD_HINTS.get(p.name, "use it in a layer, block or `let`, or remove it"))
    for let in program.lets:
        if let.name not in reads and let.name not in IMPLICIT:
            raise ArchError(f"`let {let.name}` is never used", let.span,
                            _FOLD_HINTS.get(let.name, "use it in a layer, block or another `let`, or remove it"))
