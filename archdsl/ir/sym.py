"""Symbolic numbers: a value that remembers the expression it came from.

A block's parameters are bound as symbols (`c` is `SymInt(256, c)`), so every number the
lowering computes from them carries both its value and its expression: `conv1(4*c)` gives
an output width `SymInt(1024, 4 * c)`. The IR keeps these on node attributes (the
expressions the text wrote, beside their values) and the code generator prints a block's
class from them instead of reading numbers back and guessing what they were.

`SymInt` and `SymFloat` subclass `int` and `float`: every check, comparison, dict key and
message sees the plain value, so code that knows nothing of symbols works unchanged. Only
arithmetic is overloaded, to build the expression (a Python `ast` node, printed with
`ast.unparse`). Comparisons and `bool()` use the value: a decision the compiler makes on a
value is not symbolic, and the code generator checks every class it prints against each
instance's values (`archdsl.backends.codegen.classes`), so a symbol that went the wrong way
cannot produce wrong code.
"""

from __future__ import annotations

import ast
import copy
import math
from typing import Any

_OPS: dict[str, ast.operator] = {"+": ast.Add(), "-": ast.Sub(), "*": ast.Mult(), "/": ast.Div(), "//": ast.FloorDiv(),
                                 "%": ast.Mod(), "**": ast.Pow()}


def expr_of(v: Any) -> ast.expr:
    """The expression of a value: its symbol's, or a constant."""
    e = getattr(v, "expr", None)
    if e is not None:
        return e
    if isinstance(v, (list, tuple)):
        return ast.Tuple([expr_of(x) for x in v], ast.Load())
    if isinstance(v, float) and v < 0 or isinstance(v, int) and not isinstance(v, bool) and v < 0:
        return ast.UnaryOp(ast.USub(), ast.Constant(-v))
    return ast.Constant(v)


def is_symbolic(v: Any) -> bool:
    if isinstance(v, (list, tuple)):
        return any(is_symbolic(x) for x in v)
    return getattr(v, "expr", None) is not None


def plain(v: Any) -> Any:
    """The value without its expression (lists and tuples element-wise)."""
    if isinstance(v, bool) or v is None:
        return v
    if isinstance(v, SymInt):
        return int(v)
    if isinstance(v, SymFloat):
        return float(v)
    if isinstance(v, list):
        return [plain(x) for x in v]
    if isinstance(v, tuple):
        return tuple(plain(x) for x in v)
    return v


def symbol(value: Any, name: str) -> Any:
    """`value` named `name`: numbers become symbols, anything else is returned as it is."""
    return make(value, ast.Name(name, ast.Load()))


def make(value: Any, expr: ast.expr) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        s = SymInt(value)
    elif isinstance(value, float):
        s = SymFloat(value)
    else:
        return value
    s.expr = expr
    return s


def names_in(v: Any) -> set[str]:
    """The names a value's expression reads."""
    e = getattr(v, "expr", None)
    if e is None:
        return set().union(*(names_in(x) for x in v)) if isinstance(v, (list, tuple)) else set()
    return {n.id for n in ast.walk(e) if isinstance(n, ast.Name)}


def substitute(v: Any, values: dict[str, Any]) -> Any:
    """`v` with the names of its expression replaced by the expressions of `values` (a
    child's `4 * w` in its caller's terms, where `w` is the caller's `2 * c`: `4 * (2 * c)`).
    A name `values` lacks, or a value there without an expression, leaves `v` plain."""
    if isinstance(v, (list, tuple)):
        return type(v)(substitute(x, values) for x in v)
    e = getattr(v, "expr", None)
    if e is None:
        return v
    names = {n.id for n in ast.walk(e) if isinstance(n, ast.Name)}
    if not names or any(not is_symbolic(values.get(n)) for n in names):
        return plain(v)

    class _Swap(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            return expr_of(values[node.id])

    return make(plain(v), _Swap().visit(copy.deepcopy(e)))


def _is_const(e: ast.expr, value: float) -> bool:
    return isinstance(e, ast.Constant) and not isinstance(e.value, bool) and e.value == value


def _binop(op: str, a: Any, b: Any, result: Any) -> Any:
    if not isinstance(result, (int, float)) or isinstance(result, bool):
        return result
    if not (is_symbolic(a) or is_symbolic(b)):
        return result
    ea, eb = expr_of(a), expr_of(b)
    # identities keep the expression readable: x * 1, x + 0, x // 1, 1 * x, 0 + x
    if op in ("*", "//", "/") and _is_const(eb, 1) or op in ("+", "-") and _is_const(eb, 0):
        return a if type(_value(a)) is type(result) else make(result, ea)  # `a` itself: it keeps its parts
    if op == "*" and _is_const(ea, 1) or op == "+" and _is_const(ea, 0):
        return b if type(_value(b)) is type(result) else make(result, eb)
    # a division that a multiplication undoes: (k * a) // k is a; k * (a // k) is a where k divides a
    if op == "//" and isinstance(ea, ast.BinOp) and isinstance(ea.op, ast.Mult) and isinstance(eb, ast.Constant):
        for side, other in ((ea.left, ea.right), (ea.right, ea.left)):
            if _is_const(side, eb.value) and eb.value:
                return make(result, other)
    if op == "*":
        for k, q in ((a, b), (b, a)):
            parts = getattr(q, "parts", None)
            if parts and not is_symbolic(k) and parts[2] == k and k and _value(parts[1]) % k == 0:
                return make(result, expr_of(parts[1]))
            # k * (a // (m * k)) is a // m where m * k divides a: (3 * c // 96) * 32 is c (a head
            # count times the head width, the heads inferred from a width)
            if (parts and not is_symbolic(k) and not is_symbolic(parts[2]) and isinstance(k, int) and k > 0
                    and isinstance(parts[2], int) and parts[2] % k == 0 and _value(parts[1]) % parts[2] == 0):
                return _binop("//", parts[1], parts[2] // k, result)
    out = make(result, ast.BinOp(ea, _OPS[op], eb))
    if op == "//" and is_symbolic(out):
        out.parts = (op, a, b)  # the dividend, kept so that `k * (a // k)` can be written `a`
    return out


def _value(v: Any) -> Any:
    return int(v) if isinstance(v, SymInt) else float(v) if isinstance(v, SymFloat) else v


def _arith(op: str, fn):
    def forward(self, other):
        if not isinstance(other, (int, float)) or isinstance(other, complex):
            return NotImplemented
        return _binop(op, self, other, fn(_value(self), _value(other)))

    def backward(self, other):
        if not isinstance(other, (int, float)):
            return NotImplemented
        return _binop(op, other, self, fn(_value(other), _value(self)))

    return forward, backward


class _SymMixin:
    expr: ast.expr

    __add__, __radd__ = _arith("+", lambda a, b: a + b)
    __sub__, __rsub__ = _arith("-", lambda a, b: a - b)
    __mul__, __rmul__ = _arith("*", lambda a, b: a * b)
    __truediv__, __rtruediv__ = _arith("/", lambda a, b: a / b)
    __floordiv__, __rfloordiv__ = _arith("//", lambda a, b: a // b)
    __mod__, __rmod__ = _arith("%", lambda a, b: a % b)
    __pow__, __rpow__ = _arith("**", lambda a, b: a ** b)

    def __neg__(self):
        return make(-_value(self), ast.UnaryOp(ast.USub(), self.expr))

    def __pos__(self):
        return self

    def __ceil__(self):
        return make(math.ceil(_value(self)), _call("math.ceil", self.expr))

    def __floor__(self):
        return make(math.floor(_value(self)), _call("math.floor", self.expr))

    def __reduce__(self):
        return (_remake, (_value(self), self.expr, getattr(self, "parts", None)))


def _remake(value: Any, expr: ast.expr, parts: tuple | None) -> Any:
    out = make(value, expr)
    if parts is not None:
        out.parts = parts
    return out


def _call(func: str, *args: ast.expr) -> ast.Call:
    return ast.Call(ast.parse(func, mode="eval").body, list(args), [])


def call(func: str, value: Any, *args: Any) -> Any:
    """`func(*args)` evaluated to `value`, symbolic when an argument is (DSL functions)."""
    if not any(is_symbolic(a) for a in args):
        return value
    return make(value, _call(func, *(expr_of(a) for a in args)))


class SymInt(_SymMixin, int):
    """An int and the expression it came from."""

    def __int__(self) -> int:
        return int.__int__(self)

    def __index__(self) -> int:
        return int.__index__(self)


class SymFloat(_SymMixin, float):
    """A float and the expression it came from."""

    def __float__(self) -> float:
        return float.__float__(self)
