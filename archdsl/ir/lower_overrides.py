"""Lowering the overrides of a build: `--set NAME=VALUE` on a `let`, and `--set LAYER.ARG=VALUE`
(a default line for a built-in layer, a `layer` definition or `residual`), each evaluated with
the parameters and checked against the file's type, with located errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from archdsl import ops
from archdsl.errors import ArchError, Span, did_you_mean
from archdsl.ir.lower_layers import args_hint
from archdsl.ir.lower_structures import RESIDUAL_KINDS, RESIDUAL_OPTIONS
from archdsl.ir.values import Env, conforms, describe, evaluate, format_value
from archdsl.syntax import ast

if TYPE_CHECKING:
    from archdsl.passes.parameters import Override


class OverrideLowering:
    """`_Lowering`'s overrides (a mixin: the state lives in archdsl.ir.lower._Lowering)."""

    def _override(self, o: "Override", what: str, typ: str, original: Any) -> Any:
        """The value of one override, evaluated with the parameters and checked against `typ`."""
        expr = isinstance(o.value, ast.Expr.__args__)  # type: ignore[attr-defined]
        v = evaluate(o.value, self.globals, self.p.blocks) if expr else o.value
        if isinstance(v, tuple):
            v = list(v)
        if typ == "float" and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not conforms(v, typ):
            raise ArchError(f"{what} must be {typ}, got {describe(v)} {o.source}", o.value.span if expr else o.span,
                            f"the file's value is {format_value(original)}")
        return v

    def _default_override(self, layer: str, k: str, o: "Override") -> None:
        expr = isinstance(o.value, ast.Expr.__args__)  # type: ignore[attr-defined]
        if layer in RESIDUAL_KINDS:
            if k not in RESIDUAL_OPTIONS:
                raise ArchError(f"`{layer}` has no option `{k}` {o.source}", o.span,
                                did_you_mean(k, RESIDUAL_OPTIONS) or "options: " + ", ".join(RESIDUAL_OPTIONS))
            v = evaluate(o.value, self.globals, self.p.blocks) if expr else o.value
            self.residual_defaults[k] = (v, o.value.span if expr else o.span)
            return
        if layer in self.p.layers:
            v = evaluate(o.value, self.globals, self.p.blocks) if expr else o.value
            self._layer_default(self.p.layers[layer], k, v, o.span, f" {o.source}")
            return
        found = ops.lookup(layer)
        if found is None:
            raise ArchError(f"unknown layer `{layer}` {o.source}", o.span, ops.suggest(layer))
        spec = found[0]
        arg = spec.arg(k)
        if arg is None:
            raise ArchError(f"`{spec.name}` has no argument `{k}` {o.source}", o.span,
                            did_you_mean(k, spec.arg_names) or args_hint(spec))
        env = self.globals
        if not expr:  # a Python value (`build(**{"ln.eps": 1e-5})`): checked as the expression naming it would be
            env = Env({**self.globals.values, " value": o.value})
        e = o.value if expr else ast.Name(" value", o.span)
        self.defaults.setdefault(spec.name, {})[k] = self._arg_value(spec, arg, e, env)

    def _layer_default(self, ldef: ast.LayerDef, k: str, value: Any, span: Span, source: str) -> None:
        names = [p.name for p in ldef.params]
        if k not in names:
            raise ArchError(f"layer `{ldef.name}` has no parameter `{k}`{source}", span,
                            did_you_mean(k, names) or f"parameters: {', '.join(names) or 'none'}")
        self.defaults.setdefault(ldef.name, {})[k] = value
