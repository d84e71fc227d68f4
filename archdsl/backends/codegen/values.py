"""Values in generated code: constructor calls, literals, symbolic expressions, forward templates.

Everything printed into a generated file passes through here. Literals are numbers,
booleans, None, tuples of them and a closed set of strings; symbolic numbers print as the
expression the `.arch` text wrote (`4 * c`) only where the class being written has every
name they read as a parameter; forward templates (an op's `expr` rule) are parsed with
`ast` and checked node by node before their inputs are substituted, so no text from a
`.arch` file can become code.
"""

from __future__ import annotations

import ast
import math
import re
from typing import Any, Callable

from archdsl.ir.sym import expr_of, is_symbolic, plain
from archdsl.ops.code import REQUIRED, SAFE_STRING, Call, func_name

__all__ = ["REQUIRED", "Call", "Raw", "defaults", "key", "leaf_keywords", "leaves", "literal", "render", "render_plain", "same",
           "sym_text", "template"]


class Raw:
    """Trusted expression text the code generator wrote (an argument name, `shared.pos`)."""

    def __init__(self, text: str):
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Raw) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"Raw({self.text!r})"


def _is_seq(v: Any) -> bool:
    return isinstance(v, (tuple, list))


def leaves(v: Any) -> list[Any]:
    if isinstance(v, Call):
        return [x for _, a, _ in v.args for x in leaves(a)]
    if _is_seq(v):
        return [x for a in v for x in leaves(a)]
    return [v]


def key(v: Any) -> Any:
    """The structure of a value with its leaves blanked: equal keys, same code shape."""
    if isinstance(v, Call):
        return ("call", func_name(v.func), id(v.func) if not isinstance(v.func, str) else 0,
                tuple((k, key(a), repr(d)) for k, a, d in v.args))
    if _is_seq(v):
        return ("tup", tuple(key(a) for a in v))
    return "?"


def leaf_keywords(v: Any, kw: str | None = None) -> list[str | None]:
    """The keyword each leaf is passed by (None: positional), in leaf order."""
    if isinstance(v, Call):
        return [x for k, a, _ in v.args for x in leaf_keywords(a, k)]
    if _is_seq(v):
        return [x for a in v for x in leaf_keywords(a, kw)]
    return [kw]


def defaults(v: Any) -> list[Any]:
    """The default of each leaf (REQUIRED where there is none), in leaf order."""
    if isinstance(v, Call):
        out = []
        for _, a, d in v.args:
            out += [d] if not isinstance(a, Call) and not _is_seq(a) else defaults(a)
        return out
    if _is_seq(v):
        return [x for a in v for x in defaults(a)]
    return [REQUIRED]


def same(a: Any, b: Any) -> bool:
    """Equal values of the same type (1 and 1.0 and True differ in code)."""
    a, b = plain(a), plain(b)
    return type(a) is type(b) and a == b


def literal(v: Any) -> str:
    """A plain value as Python source (a symbol's value, not its expression)."""
    if isinstance(v, Raw):
        return v.text
    v = plain(v)
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"non-finite float {v!r} cannot be written as a literal")
        return repr(v)
    if isinstance(v, str):
        if not SAFE_STRING.fullmatch(v):
            raise ValueError(f"string {v!r} is not a safe literal")
        return f'"{v}"'
    if _is_seq(v):
        inner = ", ".join(literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise TypeError(f"cannot write {type(v).__name__} as a literal")


def render(v: Any, leaf: Callable[[int, Any], str | None], counter: list[int] | None = None) -> str:
    """A value as source; `leaf(index, value)` gives each leaf's text (None: omit that keyword)."""
    counter = [0] if counter is None else counter
    if isinstance(v, Call):
        parts = []
        for k, a, _ in v.args:
            start = counter[0]
            text = render(a, leaf, counter)
            if k is not None and not isinstance(a, Call) and not _is_seq(a) and leaf(start, None) is None:
                continue  # a constant equal to its default
            parts.append(text if k is None else f"{k}={text}")
        return f"{func_name(v.func)}({', '.join(parts)})"
    if _is_seq(v):
        items = [render(a, leaf, counter) for a in v]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    k = counter[0]
    counter[0] += 1
    text = leaf(k, v)
    return text if text is not None else literal(v)


def render_plain(v: Any) -> str:
    """A value with every leaf literal, leaving out keyword arguments equal to their default."""
    ds = defaults(v)
    ls = leaves(v)

    def leaf(k: int, _v: Any) -> str | None:
        if ds[k] is not REQUIRED and same(ls[k], ds[k]):
            return None
        return literal(ls[k])

    return render(v, leaf)


# ---- symbolic expressions --------------------------------------------------------------
# DSL functions a symbolic expression may call, with the runtime helper that computes them
SYMBOLIC_FUNCTIONS = {"math.ceil", "math.floor", "round8", "make_divisible", "round", "int", "float", "min", "max", "abs"}


def sym_text(v: Any, params: dict[str, str]) -> str | None:
    """A symbolic value as the expression it came from, each name written as `params` maps it
    (a parameter's safe Python name), when every name it reads is one of `params` and it calls
    only known functions; else None (write the value instead)."""
    if not is_symbolic(v) or _is_seq(v):
        return None
    e = expr_of(v)
    nodes = list(ast.walk(e))
    funcs = {id(n.func) for n in nodes if isinstance(n, ast.Call)}
    renamed = {}
    for n in nodes:
        if isinstance(n, ast.Call) and ast.unparse(n.func) not in SYMBOLIC_FUNCTIONS:
            return None
        if isinstance(n, ast.Name) and id(n) not in funcs and n.id != "math":
            if n.id not in params:
                return None
            if params[n.id] != n.id:
                renamed[n.id] = params[n.id]
    text = ast.unparse(e)
    for old, new in renamed.items():  # a parameter name that is not safe Python, mangled
        text = re.sub(rf"(?<![\w.]){re.escape(old)}\b(?!\s*\()", new, text)
    return text


def evaluate(text: str, env: dict[str, Any]) -> Any:
    """The value of a printed symbolic expression for one instance's parameter values
    (numbers and the functions in SYMBOLIC_FUNCTIONS only): the check that a class's
    expressions give every instance's own numbers."""
    from archdsl.ir.values import make_divisible

    fns = {"math.ceil": math.ceil, "math.floor": math.floor, "round8": lambda v: make_divisible(v, 8),
           "make_divisible": make_divisible, "round": round, "int": int, "float": float, "min": min, "max": max, "abs": abs}

    def ev(n: ast.expr) -> Any:
        if isinstance(n, ast.Constant):
            return n.value
        if isinstance(n, ast.Name):
            return env[n.id]
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub):
            return -ev(n.operand)
        if isinstance(n, ast.BinOp):
            a, b = ev(n.left), ev(n.right)
            return {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b, ast.Div: lambda: a / b,
                    ast.FloorDiv: lambda: a // b, ast.Mod: lambda: a % b, ast.Pow: lambda: a ** b}[type(n.op)]()
        if isinstance(n, ast.Call):
            return fns[ast.unparse(n.func)](*(ev(a) for a in n.args))
        if isinstance(n, ast.Tuple):
            return tuple(ev(x) for x in n.elts)
        raise ValueError(f"cannot evaluate {ast.unparse(n)}")

    return ev(ast.parse(text, mode="eval").body)


# ---- forward templates -----------------------------------------------------------------
_ALLOWED = (ast.Expression, ast.Call, ast.Attribute, ast.Name, ast.Constant, ast.BinOp, ast.UnaryOp, ast.Subscript, ast.Slice,
            ast.Tuple, ast.List, ast.keyword, ast.Load, ast.operator, ast.unaryop, ast.Compare, ast.cmpop, ast.IfExp)


def template(text: str, inputs: dict[str, ast.expr], known: set[str]) -> ast.expr:
    """An op's forward expression with its inputs substituted: `text` is parsed, every node
    checked (no lambdas, no dunders, names only the inputs, `p` and `known`), and each input
    name replaced by its expression (an AST, so precedence is ast.unparse's business)."""
    tree = ast.parse(text, mode="eval")
    for n in ast.walk(tree):
        if not isinstance(n, _ALLOWED):
            raise ValueError(f"forward expression {text!r}: {type(n).__name__} is not allowed")
        if isinstance(n, ast.Attribute) and n.attr.startswith("__"):
            raise ValueError(f"forward expression {text!r} reads a dunder attribute")
        if isinstance(n, ast.Name) and n.id not in inputs and n.id not in known:
            raise ValueError(f"forward expression {text!r} reads an unknown name `{n.id}`")
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and not SAFE_STRING.fullmatch(n.value):
            raise ValueError(f"forward expression {text!r} holds an unsafe string")

    class _Substitute(ast.NodeTransformer):
        def visit_Name(self, node: ast.Name) -> ast.expr:
            return inputs.get(node.id, node)

    return _Substitute().visit(tree).body
