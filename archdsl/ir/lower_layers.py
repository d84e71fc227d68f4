"""Lowering one layer token: `conv3/2(64, g=2)` -> an IR node with its attributes resolved.

The token's size suffix, stride, positional and keyword arguments and the file's `default`
lines become the node's attributes, each checked against the op's registry entry.
"""

from __future__ import annotations

from typing import Any

from archdsl import ops
from archdsl.errors import ArchError, did_you_mean
from archdsl.ir.graph import Path
from archdsl.ir.values import Env, describe, evaluate, format_value
from archdsl.ops.activation import ACTIVATIONS
from archdsl.syntax import ast
from archdsl.syntax.hints import kwarg_hint, unknown_layer


class LayerLowering:
    """`_Lowering`'s layer tokens (a mixin: the state lives in archdsl.ir.lower._Lowering)."""

    def _layer(self, layer: ast.Layer, x: int, env: Env, scope: Path) -> int:
        found = ops.lookup(layer.word)
        if found is None:
            raise unknown_layer(self.p, layer)
        spec, size = found
        size_kw = spec.size is not None and spec.size in layer.kwargs and spec.arg(spec.size) is None
        if size_kw:  # `dw(kernel=k)`: the size suffix computed from an expression
            e = layer.kwargs[spec.size]
            if size is not None:
                raise ArchError(f"`{layer.word}` gives the {spec.size} twice (suffix and `{spec.size}=`)", e.span)
            size = self._size_value(spec, e, env)
        if spec.size is not None and size is None and spec.size_required:
            raise ArchError(f"`{spec.name}` needs a size, e.g. `{spec.example}`", layer.span)
        attrs: dict[str, Any] = {a.name: a.default for a in spec.args}
        attrs.update(self.defaults.get(spec.name, {}))
        if spec.size is not None and (size is not None or attrs.get(spec.size) is None):  # keep a `default` when unsized
            attrs[spec.size] = size
            if isinstance(size, (int, float)) and size <= 0 or isinstance(size, tuple) and min(size) <= 0:
                raise ArchError(f"`{layer.word}`: size must be positive", layer.span)
        pos = spec.positional
        if len(layer.args) > len(pos):
            raise ArchError(f"`{spec.name}` takes {len(pos)} positional argument{'s' if len(pos) != 1 else ''}, got {len(layer.args)}",
                            layer.args[len(pos)].span, args_hint(spec))
        for a, e in zip(pos, layer.args):
            attrs[a.name] = self._arg_value(spec, a, e, env)
        for k, e in layer.kwargs.items():
            if size_kw and k == spec.size:
                continue
            a = spec.arg(k)
            if a is None:
                raise ArchError(f"`{spec.name}` has no argument `{k}`", layer.kwarg_spans.get(k, layer.span),
                                kwarg_hint(spec, k, layer.word) or did_you_mean(k, spec.arg_names) or args_hint(spec))
            attrs[k] = self._arg_value(spec, a, e, env)
        if spec.width_default and attrs.get(spec.width_default) is None and "c" in env:
            c = env.get("c")
            if isinstance(c, int) and not isinstance(c, bool):
                attrs[spec.width_default] = c
                self.stage_passed.add("c")  # a stage's `c=` option is read by a layer's default width
        token = layer.word
        if layer.stride is not None:
            if not spec.strided:
                raise ArchError(f"`{spec.name}` takes no stride", layer.stride.span, "only convolutions and pools have `/stride`")
            stride = self._int(layer.stride, env, "stride", minimum=1)
            attrs["stride"] = stride
            token += f"/{stride}"
        elif spec.strided:
            attrs["stride"] = None if spec.family == "pool" else 1
        shown = [format_value(attrs[a.name]) for a, _ in zip(pos, layer.args)]
        # keyword values equal to the layer's default say nothing (a block passing g=1)
        shown += [f"{k}={format_value(attrs[k])}" for k in layer.kwargs
                  if spec.arg(k) is None or attrs[k] != spec.arg(k).default]
        if shown:
            token += "(" + ",".join(shown) + ")"
        attrs["_token"] = f"`{token}`"
        return self._node(spec.name, attrs, [x], layer.span, scope, token)

    def _size_value(self, spec, e: ast.Expr, env: Env) -> Any:
        v = evaluate(e, env, self.p.blocks)
        if isinstance(v, float) and v.is_integer() and spec.size_type != "float":
            v = int(v)
        if spec.size_type == "kernel" and isinstance(v, list) and len(v) == 2 and all(isinstance(t, int) and not isinstance(t, bool) for t in v):
            return tuple(v)
        if spec.size_type == "float" and isinstance(v, (int, float)) and not isinstance(v, bool):
            return float(v)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
        want = {"kernel": "an int or [h, w]", "float": "a number"}.get(spec.size_type, "an int")
        raise ArchError(f"`{spec.name}` {spec.size} must be {want}, got {describe(v)}", e.span)

    def _arg_value(self, spec, arg, e: ast.Expr, env: Env) -> Any:
        if arg.type == "act":
            if isinstance(e, ast.Name) and e.id in ACTIVATIONS:
                return e.id
            literal = isinstance(e, ast.Name) and e.id not in env  # a bare word; a bound name holds e.g. "hswish"
            v = e.id if literal else evaluate(e, env, self.p.blocks)
            if v not in ACTIVATIONS:
                raise ArchError(f"`{arg.name}` must be an activation, got {'`' + v + '`' if literal else describe(v)}", e.span,
                                did_you_mean(str(v), list(ACTIVATIONS)) or "one of " + ", ".join(sorted(ACTIVATIONS)))
            return v
        v = evaluate(e, env, self.p.blocks)
        ok = {
            "int": isinstance(v, int) and not isinstance(v, bool),
            "float": isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": isinstance(v, bool),
            "ints": (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, list) and len(v) == 2 and all(isinstance(t, int) for t in v)),
            "any": True,
        }[arg.type]
        if arg.type == "int" and isinstance(v, float) and v.is_integer():
            v, ok = int(v), True
        if not ok:
            raise ArchError(f"`{spec.name}` argument `{arg.name}` must be {arg.type}, got {describe(v)}", e.span, arg.doc or None)
        if arg.type == "ints" and isinstance(v, list):
            v = tuple(v)
        return v

    def _int(self, e: ast.Expr, env: Env, what: str, minimum: int = 0, allow_bool: bool = False) -> int:
        v = evaluate(e, env, self.p.blocks)
        if allow_bool and isinstance(v, bool):  # `[se] x(use_se)`: a condition repeats 0 or 1 times
            return int(v)
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        if isinstance(v, bool) or not isinstance(v, int):
            raise ArchError(f"{what} must be an integer, got {describe(v)}", e.span)
        if v < minimum:
            raise ArchError(f"{what} must be at least {minimum}, got {v}", e.span)
        return v


def args_hint(spec) -> str:
    if not spec.args:
        return f"`{spec.name}` takes no arguments"
    return f"`{spec.name}` arguments: " + ", ".join(a.name for a in spec.args)
