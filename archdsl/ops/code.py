"""Layers at the level of source code: what an op's registry entry says to construct it.

An op's `module` rule returns a `Call`, the constructor expression of its layer
(`nn.Conv2d(c, 4 * c, 1, bias=False)`); its `expr` rule returns a forward expression over
its inputs (`torch.flatten(x, 1)`). The code generator prints these, so `archdsl.build`,
`archdsl compile -o`, the inference passes and a user's plugin all describe a layer once.

A `Call`'s function is trusted text written by an op's author (`nn.Conv2d`, a class of
`archdsl.runtime` such as `LayerNorm2d`) or, for a plugin, the class object itself (the
generated file then imports it from its module). Its arguments are values: numbers,
booleans, None, strings (the code generator only prints a closed set of safe strings),
tuples and lists of them, nested `Call`s, and symbolic numbers (`archdsl.ir.sym`) that print
as the expression the `.arch` text wrote where the code generator can.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any


class _Required:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _Required()


@dataclass(frozen=True)
class Call:
    """`func(args)`: each arg is (keyword or None, value, default); REQUIRED: always written."""

    func: Any  # str (trusted code text) or a class / function object (a plugin's)
    args: tuple[tuple[str | None, Any, Any], ...] = ()


def call(func: Any, *pos: Any, _defaults: dict[str, Any] | None = None, **kw: Any) -> Call:
    """`call("nn.Conv2d", c, out, k, stride=s, bias=b, _defaults={"stride": 1, "bias": True})`:
    positional arguments, then keyword arguments, each left out when it equals its default."""
    defaults = _defaults or {}
    args = [(None, v, REQUIRED) for v in pos]
    args += [(k, v, defaults.get(k, REQUIRED)) for k, v in kw.items()]
    return Call(func, tuple(args))


def func_name(func: Any) -> str:
    """How a Call's function is written: its text, or a plugin object's own name."""
    return func if isinstance(func, str) else func.__name__


_NUMBER = (int, float)


def lit(v: Any) -> str:
    """A value written into a forward-expression template: numbers, booleans, None and
    tuples of them only (an op's `expr` rule formats its attributes with this)."""
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        v = float(v)
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"non-finite float {v!r} in a forward expression")
        return repr(v)
    if isinstance(v, (tuple, list)):
        inner = ", ".join(lit(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise TypeError(f"cannot write {type(v).__name__} into a forward expression")


SAFE_STRING = re.compile(r"[A-Za-z0-9_.\-]*")


def inputs(n: int) -> list[str]:
    """The names of an op's inputs in its forward template: x (one input) or x0, x1, ..."""
    return ["x"] if n == 1 else [f"x{k}" for k in range(n)]
