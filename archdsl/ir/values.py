"""Evaluating AST expressions to values, and the value types parameters may have.

Values are plain Python: int, float, bool, str, None, list, and `BlockRef` (a reference
to a `block` defined in the file, so a parameter can choose the block a stage uses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from archdsl.errors import ArchError, Span, did_you_mean
from archdsl.ir import sym
from archdsl.runtime.rounding import make_divisible
from archdsl.syntax import ast


@dataclass(frozen=True)
class BlockRef:
    name: str

    def __str__(self) -> str:
        return self.name


def _num(f: Callable) -> Callable:
    return f


FUNCTIONS: dict[str, tuple[Callable[..., Any], str]] = {
    "ceil": (lambda x: int(math.ceil(x)), "ceil(x): smallest integer >= x"),
    "floor": (lambda x: int(math.floor(x)), "floor(x): largest integer <= x"),
    "round": (lambda x, nd=None: round(x) if nd is None else round(x, int(nd)), "round(x): nearest integer"),
    "int": (lambda x: int(x), "int(x): truncate to an integer"),
    "float": (lambda x: float(x), "float(x)"),
    "min": (lambda *a: min(a[0]) if len(a) == 1 else min(a), "min(a, b, ...) or min(list)"),
    "max": (lambda *a: max(a[0]) if len(a) == 1 else max(a), "max(a, b, ...) or max(list)"),
    "len": (lambda x: len(x), "len(list)"),
    "sum": (lambda x: sum(x), "sum(list)"),
    "make_div": (make_divisible, "make_div(v, d=8): round v to a multiple of d (MobileNet rule)"),
    "round8": (lambda v: make_divisible(v, 8), "round8(v): make_div(v, 8)"),
    "log": (lambda x, base=math.e: math.log(x, base), "log(x, base=e): logarithm"),
    "abs": (lambda x: abs(x), "abs(x)"),
    "range": (lambda *a: _range(*a), "range(n) or range(a, b): the integers a, a+1, ..., b-1 as a list"),
    "unique": (lambda xs: _unique(xs), "unique(list): the distinct values in order of first appearance"),
    "count": (lambda xs, v: list(xs).count(v), "count(list, v): how many entries equal v"),
}

# functions whose result stays symbolic (archdsl.ir.sym), as the Python they are in generated code
SYMBOLIC = {"ceil": "math.ceil", "floor": "math.floor", "int": "int", "float": "float", "abs": "abs", "make_div": "make_divisible",
            "round8": "round8"}

MAX_LIST = 100_000  # refuse absurd ranges before they eat memory


def _range(*a):
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in a) or not 1 <= len(a) <= 2:
        raise TypeError("range takes one or two integers")
    r = range(*a)
    if len(r) > MAX_LIST:
        raise ValueError(f"more than {MAX_LIST:,} entries")
    return list(r)


def _unique(xs):
    if not isinstance(xs, list):
        raise TypeError("unique takes a list")
    out: list = []
    for x in xs:
        if x not in out:
            out.append(x)
    return out

CONSTANTS = {"true": True, "false": False, "none": None}


class Env:
    """Name -> value bindings with a parent chain (block parameters shadow globals)."""

    def __init__(self, values: dict[str, Any] | None = None, parent: "Env | None" = None):
        self.values = dict(values or {})
        self.parent = parent

    def lookup(self, name: str) -> tuple[bool, Any]:
        env: Env | None = self
        while env is not None:
            if name in env.values:
                return True, env.values[name]
            env = env.parent
        return False, None

    def get(self, name: str, default: Any = None) -> Any:
        found, v = self.lookup(name)
        return v if found else default

    def __contains__(self, name: str) -> bool:
        return self.lookup(name)[0]

    def names(self) -> set[str]:
        out: set[str] = set()
        env: Env | None = self
        while env is not None:
            out |= set(env.values)
            env = env.parent
        return out

    def child(self, values: dict[str, Any] | None = None) -> "Env":
        return Env(values, self)


def evaluate(e: ast.Expr, env: Env, blocks: dict[str, Any] | None = None) -> Any:
    """Evaluate an expression; every failure is an ArchError at the sub-expression."""
    blocks = blocks or {}
    if isinstance(e, ast.Num):  # the parser refuses out-of-range literals
        return e.value
    if isinstance(e, ast.Str):
        return e.value
    if isinstance(e, ast.Name):
        found, v = env.lookup(e.id)
        if found:
            return v
        if e.id in CONSTANTS:
            return CONSTANTS[e.id]
        if e.id in blocks:
            return BlockRef(e.id)
        raise ArchError(f"unknown name `{e.id}`", e.span, did_you_mean(e.id, env.names() | set(blocks) | set(CONSTANTS))
                        or "declare it as a parameter in the `arch` header or with `let`")
    if isinstance(e, ast.ListExpr):
        return [evaluate(i, env, blocks) for i in e.items]
    if isinstance(e, ast.Neg):
        v = evaluate(e.operand, env, blocks)
        _require_number(v, e.operand.span, "-")
        return _real(-v, e.span, "-")
    if isinstance(e, ast.BinOp):
        a = evaluate(e.left, env, blocks)
        b = evaluate(e.right, env, blocks)
        if isinstance(a, list) or isinstance(b, list):  # [a] + [b] joins lists; [a] * 3 repeats one
            return _list_op(e, a, b)
        _require_number(a, e.left.span, e.op)
        _require_number(b, e.right.span, e.op)
        if e.op == "**" and (abs(b) > 64 or abs(a) > 1e6):
            raise ArchError("exponent too large", e.span, "powers take a base up to 1e6 and an exponent up to 64")
        try:
            return _real(_binop(e.op, a, b), e.span, e.op)
        except ZeroDivisionError:
            raise ArchError("division by zero", e.right.span) from None
        except OverflowError:  # a float result beyond 1.8e308
            raise _too_large(e.span, e.op) from None
    if isinstance(e, ast.Index):
        target = evaluate(e.target, env, blocks)
        idx = evaluate(e.index, env, blocks)
        if not isinstance(target, list):
            raise ArchError(f"cannot index {describe(target)}", e.target.span, "only lists can be indexed, e.g. dims[0]")
        if not isinstance(idx, int) or isinstance(idx, bool):
            raise ArchError(f"list index must be an integer, got {describe(idx)}", e.index.span)
        if not -len(target) <= idx < len(target):
            raise ArchError(f"index {idx} out of range for a list of {len(target)}", e.index.span)
        return target[idx]
    if isinstance(e, ast.Call):
        if e.func not in FUNCTIONS:
            raise ArchError(f"unknown function `{e.func}`", e.span, did_you_mean(e.func, FUNCTIONS)
                            or "functions: " + ", ".join(sorted(FUNCTIONS)))
        fn = FUNCTIONS[e.func][0]
        args = [evaluate(a, env, blocks) for a in e.args]
        try:
            result = fn(*args)
        except OverflowError:
            raise _too_large(e.span, f"{e.func}(...)") from None
        except (TypeError, ValueError, ZeroDivisionError) as exc:
            raise ArchError(f"bad arguments to `{e.func}`: {exc}", e.span, FUNCTIONS[e.func][1]) from None
        if e.func in SYMBOLIC and any(sym.is_symbolic(a) for a in args):
            result = sym.call(SYMBOLIC[e.func], result, *args)
        if isinstance(result, list):
            for v in result:
                _real(v, e.span, f"{e.func}(...)")
            return result
        return _real(result, e.span, f"{e.func}(...)")
    if isinstance(e, ast.Compare):
        a = evaluate(e.left, env, blocks)
        b = evaluate(e.right, env, blocks)
        if e.op in ("==", "!="):
            return (a == b) == (e.op == "==")
        _require_number(a, e.left.span, e.op)
        _require_number(b, e.right.span, e.op)
        return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[e.op]
    if isinstance(e, ast.BoolOp):
        a = _require_bool(evaluate(e.left, env, blocks), e.left.span, e.op)
        if a == (e.op == "or"):  # short-circuit
            return a
        return _require_bool(evaluate(e.right, env, blocks), e.right.span, e.op)
    if isinstance(e, ast.Not):
        return not _require_bool(evaluate(e.operand, env, blocks), e.operand.span, "not")
    if isinstance(e, ast.IfExpr):
        cond = _require_bool(evaluate(e.cond, env, blocks), e.cond.span, "if")
        return evaluate(e.then if cond else e.other, env, blocks)
    if isinstance(e, ast.Comprehension):
        source = evaluate(e.source, env, blocks)
        if not isinstance(source, list):
            raise ArchError(f"`for {e.var} in ...` needs a list, got {describe(source)}", e.source.span,
                            "use a list or range(n)")
        out = []
        for v in source:
            inner = env.child({e.var: v})
            if e.cond is None or _require_bool(evaluate(e.cond, inner, blocks), e.cond.span, "if"):
                out.append(evaluate(e.item, inner, blocks))
        return out
    raise RuntimeError(f"unknown expression {e!r}")  # pragma: no cover


def _binop(op: str, a: int | float, b: int | float) -> int | float:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if isinstance(a, int) and isinstance(b, int) and a % b == 0:
            return a // b  # a whole quotient stays an int (`//` keeps a symbol's expression exact)
        return a / b
    if op == "//":
        return a // b
    if op == "%":
        return a % b
    if op == "**":
        return a**b
    raise RuntimeError(op)  # pragma: no cover - the parser makes only these


_RANGE_HINT = f"integers stay within ±{ast.MAX_INT:,} (64 bits), decimals within ±1.8e308"


def _too_large(span: Span, what: str) -> ArchError:
    return ArchError(f"the result of `{what}` is too large", span, _RANGE_HINT)


def _real(v: Any, span: Span, what: str) -> Any:
    """A computed number, refused where Python's arithmetic left the numbers a network can
    use: an integer beyond 64 bits, an infinite float (which then turns into the "internal
    error" of a later step), a NaN, or a complex root of a negative number."""
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        if -ast.MAX_INT - 1 <= v <= ast.MAX_INT:
            return v
        raise _too_large(span, what)
    if isinstance(v, float):
        if math.isfinite(v):
            return v
        if math.isnan(v):
            raise ArchError(f"the result of `{what}` is not a number", span, "NaN has no use as a size or rate")
        raise _too_large(span, what)
    if isinstance(v, complex):
        raise ArchError(f"the result of `{what}` is not a real number", span,
                        "a negative number to a fractional power is complex")
    return v


def _require_bool(v: Any, span: Span, op: str) -> bool:
    if not isinstance(v, bool):
        raise ArchError(f"`{op}` needs true or false, got {describe(v)}", span, "compare values with == != < > <= >=")
    return v


def _list_op(e: ast.BinOp, a: Any, b: Any) -> list:
    if e.op == "+" and isinstance(a, list) and isinstance(b, list):
        out = a + b
    elif e.op == "*" and isinstance(a, list) != isinstance(b, list):
        lst, n = (a, b) if isinstance(a, list) else (b, a)
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ArchError(f"a list repeats a whole number of times, got {describe(n)}", e.span, "e.g. [normal] * 6")
        if len(lst) * n > MAX_LIST:
            raise ArchError(f"more than {MAX_LIST:,} entries", e.span)
        out = lst * n
    else:
        raise ArchError(f"`{e.op}` on {describe(a)} and {describe(b)}", e.span,
                        "lists join with `+` (both sides lists) and repeat with `*` (a list and an integer)")
    if len(out) > MAX_LIST:
        raise ArchError(f"more than {MAX_LIST:,} entries", e.span)
    return out


def _require_number(v: Any, span: Span, op: str) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ArchError(f"`{op}` needs numbers, got {describe(v)}", span)


def describe(v: Any) -> str:
    """A value's type and value, for messages: 'a list [1, 2]', 'the int 3'."""
    if isinstance(v, bool):
        return f"the bool {str(v).lower()}"
    if isinstance(v, int):
        return f"the int {v}"
    if isinstance(v, float):
        return f"the float {v:g}"
    if isinstance(v, str):
        return f'the string "{v}"'
    if isinstance(v, list):
        text = format_value(v)
        return "a list " + (text if len(text) < 60 else text[:57] + "...")
    if isinstance(v, BlockRef):
        return f"the block `{v.name}`"
    if v is None:
        return "none"
    return repr(v)


def format_value(v: Any) -> str:
    """DSL spelling of a value (inverse of parsing for plain values)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "none"
    if isinstance(v, list):
        return "[" + ",".join(format_value(x) for x in v) + "]"
    if isinstance(v, str):
        return f'"{v}"'
    if isinstance(v, float):
        return repr(v)
    return str(v)


# ---- parameter types ------------------------------------------------------------
TYPES = ("int", "float", "bool", "str", "block", "list", "list[int]", "list[float]")


def infer_type(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "str"
    if isinstance(v, BlockRef):
        return "block"
    if isinstance(v, list):
        if v and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return "list[int]"
        if v and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            return "list[float]"
        return "list"
    return "any"


def conforms(v: Any, typ: str) -> bool:
    if typ == "any":
        return True
    if typ == "int":
        return isinstance(v, int) and not isinstance(v, bool)
    if typ == "float":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if typ == "bool":
        return isinstance(v, bool)
    if typ == "str":
        return isinstance(v, str)
    if typ == "block":
        return isinstance(v, BlockRef)
    if typ == "list":
        return isinstance(v, list)
    if typ == "list[int]":
        return isinstance(v, list) and all(conforms(x, "int") for x in v)
    if typ == "list[float]":
        return isinstance(v, list) and all(conforms(x, "float") for x in v)
    return False
