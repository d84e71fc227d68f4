"""Line layout of generated code, the way ruff's formatter lays it out.

Statements are joined on one line where they fit in LINE_WIDTH, else split at the brackets
that close them (right-hand split), one argument per line with a trailing comma where the
arguments do not fit one indented line; a chain of method calls that does not fit is written
one call per line (ruff's "fluent" layout). Generated files pass `ruff format --check`.
"""

from __future__ import annotations

import ast
import re

LINE_WIDTH = 88


def layout(indent: int, head: str, args: list[str] | None, tail: str = "", comment: str | None = None,
           brackets: str = "()", separator: str = ",") -> list[str]:
    """One statement `head(args)tail  # comment`, split the way ruff's formatter does: on
    one line if it fits; else the arguments on one indented line; else one argument per
    line with a trailing comma (a sole argument: split inside it, no comma), each argument
    split the same way where it is still too long. `separator=""`: the parts of a
    comprehension (`expr`, `for k in range(n)`), which get no commas."""
    pad = " " * indent
    c = f"  # {comment}" if comment else ""
    op, cl = brackets
    joiner = f"{separator} " if separator else " "
    one = f"{pad}{head}{tail}" if args is None else f"{pad}{head}{op}{joiner.join(args)}{cl}{tail}"
    location = re.match(r"(\S+:\d+:\d+) \S", comment or "")
    if args and location and len(one) + len(c) > LINE_WIDTH >= len(one) + 4 + len(location.group(1)):
        # a call that fits but for its source-map comment keeps its one line and the
        # location; the DSL text after it goes (ruff would split the call instead)
        return [f"{one}  # {location.group(1)}"]
    if args is None or not args or len(one) + len(c) <= LINE_WIDTH:
        # a statement that fits but for its comment: shorten the comment (its location comes
        # first), since ruff would wrap the statement in parentheses instead
        room = LINE_WIDTH - len(one) - 4
        if comment and len(one) + len(c) > LINE_WIDTH and room >= 12:
            c = f"  # {comment[: room - 3].rstrip()}..."
        return [one + c]
    room = LINE_WIDTH - len(f"{pad}{head}{op}  # ")
    if comment and len(comment) > room >= 20:  # an over-long first line makes ruff re-wrap it
        comment = comment[: room - 3].rstrip() + "..."
        c = f"  # {comment}"
    body = joiner.join(args)
    first, last = f"{pad}{head}{op}{c}", f"{pad}{cl}{tail}"
    # a list or tuple display (not a call's or subscript's brackets) with several items is
    # never packed onto one indented line: ruff puts one item per line
    display = not (head[-1:].isalnum() or head[-1:] in ("_", ")", "]"))
    if len(pad) + 4 + len(body) <= LINE_WIDTH and not (display and separator and len(args) > 1):
        return [first, f"{pad}    {body}", last]
    if len(args) == 1 or not separator:
        inner = [line for a in args for line in split_expr(indent + 4, a, "")]
    else:
        inner = [line for a in args for line in split_expr(indent + 4, a, separator)]
    return [first] + inner + [last]


def _top_level_parts(inner: str, sep: str = ",") -> list[str]:
    """`a, g(b, c), d` -> ["a", "g(b, c)", "d"] (commas inside brackets stay)."""
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _split_last_bracket(text: str) -> tuple[str, str, str] | None:
    """`head(inner)` for the bracket pair that closes at the end of `text`: (head, brackets, inner)."""
    if not text or text[-1] not in ")]":
        return None
    depth = 0
    for k in range(len(text) - 1, -1, -1):
        ch = text[k]
        if ch in ")]}":
            depth += 1
        elif ch in "([{":
            depth -= 1
            if depth == 0:
                return text[:k], text[k] + text[-1], text[k + 1: -1]
    return None


def _comprehension_parts(inner: str) -> list[str] | None:
    """`expr for k in range(n)` -> ["expr", "for k in range(n)"]; None if not one."""
    depth = 0
    for k, ch in enumerate(inner):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and inner.startswith(" for ", k):
            return [inner[:k], inner[k + 1:]]
    return None


def _fluent_parts(expr: str) -> list[str] | None:
    """`a.f(x).g(y).h(z)` -> ["a.f(x)", ".g(y)", ".h(z)"]: a call chain that ruff splits
    before each dot when it does not fit (at least two attributes read from the result of a
    call or subscript); None for anything else."""
    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return None
    if not expr.isascii():  # offsets are in bytes
        return None
    cuts: list[int] = []
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, (ast.Call, ast.Subscript)):
                cuts.append(node.value.end_col_offset)
            node = node.value
        else:
            break
    if len(cuts) < 2:
        return None
    bounds = [0, *sorted(cuts), len(expr)]
    return [expr[a:b] for a, b in zip(bounds, bounds[1:])]


def _fluent(indent: int, parts: list[str], tail: str, head: str, comment: str | None) -> list[str]:
    """A call chain in parentheses of its own (unless it is inside brackets already: `head`
    empty, an argument): on one line inside them where it fits, else one call per line."""
    pad = " " * indent
    inner = indent if not head else indent + 4
    lines = [] if not head else [f"{pad}{head}(" + (f"  # {comment}" if comment else "")]
    if head and inner + len("".join(parts)) <= LINE_WIDTH:
        return lines + [" " * inner + "".join(parts), f"{pad}){tail}"]
    for k, part in enumerate(parts):
        end = tail if not head and k == len(parts) - 1 else ""
        lines += split_expr(inner, part, end)
    return lines + ([f"{pad}){tail}"] if head else [])


def split_expr(indent: int, expr: str, tail: str = "", head: str = "", comment: str | None = None) -> list[str]:
    """`head + expr + tail` at `indent`, split at the brackets that close it (right-hand
    split, as ruff does) where it is too long; a call chain one call per line."""
    if indent + len(head) + len(expr) + len(tail) > LINE_WIDTH:
        chain = _fluent_parts(expr)
        if chain is not None:
            return _fluent(indent, chain, tail, head, comment)
    parts = _split_last_bracket(expr)
    if parts is None:
        return layout(indent, head + expr, None, tail, comment)
    pre, brackets, inner = parts
    comp = _comprehension_parts(inner) if brackets == "[]" else None
    if comp is not None:
        return layout(indent, head + pre, comp, tail, comment, brackets, separator="")
    args = _top_level_parts(inner)
    if brackets == "()" and len(args) == 1 and inner.rstrip().endswith(","):
        args = [args[0] + ","]  # a one-element tuple keeps its comma
    return layout(indent, head + pre, args, tail, comment, brackets)


def assign(indent: int, target: str, expr: str, comment: str | None = None) -> list[str]:
    return split_expr(indent, expr, "", f"{target} = ", comment)


def wrap_doc(lines: list[str]) -> list[str]:
    """Wrap docstring lines at spaces to stay within the line width (long words stay whole)."""
    out = []
    for line in lines:
        while len(line) > 84:
            cut = line.rfind(" ", 5, 84)
            if cut < 0:
                cut = line.find(" ", 84)
            if cut < 0:
                break
            out.append(line[:cut].rstrip())
            line = "    " + line[cut + 1:].lstrip()
        out.append(line)
    return out
