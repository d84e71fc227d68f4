"""The `init` schemes a file may name and their arguments, checked without torch.

`archdsl check` reports `init kaimng` or `init trunc_normal(sdt=0.02)` at the `init` line;
the schemes themselves are functions of the runtime library (archdsl/runtime/init.py,
`RUNTIME` names them) that a generated network's constructor calls last; a test keeps
both lists equal.
"""

from __future__ import annotations

from typing import Any

from archdsl.errors import ArchError, did_you_mean
from archdsl.syntax import ast

# scheme -> {keyword: allowed values (a tuple) or a type}; positional arguments in order
SCHEMES: dict[str, dict[str, Any]] = {
    "torch": {},
    "kaiming": {"mode": ("fan_in", "fan_out"), "nonlinearity": ("relu", "leaky_relu", "linear", "tanh", "sigmoid", "selu")},
    "trunc_normal": {"std": float},
}
POSITIONAL: dict[str, tuple[str, ...]] = {"trunc_normal": ("std",)}
# scheme -> the runtime function a generated network calls (None: PyTorch's own defaults)
RUNTIME: dict[str, str | None] = {"torch": None, "kaiming": "init_kaiming", "trunc_normal": "init_trunc_normal"}


def check_init(decl: ast.InitDecl, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Raise a located error for an unknown scheme, argument or value in an `init` line."""
    if decl.scheme not in SCHEMES:
        raise ArchError(f"unknown init scheme `{decl.scheme}`", decl.span,
                        did_you_mean(decl.scheme, SCHEMES) or "schemes: " + ", ".join(f"`{s}`" for s in SCHEMES))
    allowed = SCHEMES[decl.scheme]
    pos = POSITIONAL.get(decl.scheme, ())
    if len(args) > len(pos):
        raise ArchError(f"`init {decl.scheme}` takes {len(pos) or 'no'} positional argument{'s' if len(pos) != 1 else ''}",
                        decl.args[len(pos)].span, _describe(decl.scheme))
    values = {**dict(zip(pos, zip(args, decl.args))), **{k: (v, decl.kwargs[k]) for k, v in kwargs.items()}}
    for key, (value, expr) in values.items():
        if key not in allowed:
            raise ArchError(f"`init {decl.scheme}` has no argument `{key}`", decl.kwarg_spans.get(key, expr.span),
                            did_you_mean(key, allowed) or _describe(decl.scheme))
        rule = allowed[key]
        if isinstance(rule, tuple) and value not in rule:
            raise ArchError(f"`{key}` of `init {decl.scheme}` must be one of {', '.join(rule)}, got {value!r}", expr.span,
                            f'e.g. `init {decl.scheme}({key}="{rule[0]}")`')
        if rule is float and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
            raise ArchError(f"`{key}` of `init {decl.scheme}` must be a positive number, got {value!r}", expr.span,
                            f"e.g. `init {decl.scheme}({key}=0.02)`")


def _describe(scheme: str) -> str:
    keys = SCHEMES[scheme]
    return f"`init {scheme}` takes " + (", ".join(f"`{k}=`" for k in keys) if keys else "no arguments")
