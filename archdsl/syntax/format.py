"""`archdsl fmt`: the canonical layout of a `.arch` file.

Comments and blank lines (at most one in a row) are kept; everything else is
re-spaced from the parser's own tokens (`parser.source_tokens`: lark's contextual lexer, so
the formatter never reads a word differently from the parser):

- section keywords padded so chains line up (`stem  `, `down  `, `stage `, `head  `);
- one space between chain items, none inside brackets, `, ` between call arguments and
  header parameters, `,` inside lists, `=` unspaced (spaced in `let`, `shared` and typed params);
- block bodies indented by four spaces per level;
- consecutive `variant` lines aligned in columns; trailing comments of consecutive
  lines aligned two spaces after the longest code;
- a statement written over several lines (a bracketed table) keeps its line breaks and
  alignment: tables are laid out by their authors.

The formatter never changes meaning: `parse(fmt(x))` equals `parse(x)` (tested on every
zoo file and on fuzzed inputs), and `fmt(fmt(x)) == fmt(x)`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from lark import Token

from archdsl.syntax import ast
from archdsl.syntax.parser import parse_source, source_tokens


@dataclass
class _Line:
    indent: int  # nesting level
    code: str  # formatted code ('' for a comment-only or blank line)
    comment: str  # '# ...' or ''
    kind: str  # variant | section | other | blank | comment | verbatim
    cells: list[str] | None = None  # variant columns


def format_source(text: str, file: str = "<string>") -> str:
    """Canonical formatting of `text`. Raises ArchError if it does not parse."""
    text = text.replace("\r\n", "\n")
    program = parse_source(text, file, library=None)  # only well-formed files are formatted
    lines = _logical_lines(text, source_tokens(text), _group_starts(program))
    out = _layout(lines)
    result = "\n".join(out).rstrip("\n") + "\n"
    return result


def _group_starts(node, out: set[tuple[int, int]] | None = None) -> set[tuple[int, int]]:
    """Where each `[` opening a group of a chain stands (line, column): a group is an item of
    its own, spaced like one (`conv3 [bn relu] x2`), unlike a list or an index (`x[3,3]`, `dims[0]`)."""
    out = set() if out is None else out
    if isinstance(node, ast.Group):
        out.add((node.span.line, node.span.column))
    if isinstance(node, (list, tuple)):
        for n in node:
            _group_starts(n, out)
    elif isinstance(node, dict):
        for n in node.values():
            _group_starts(n, out)
    elif isinstance(node, (ast.Program, ast.BlockDef, ast.Section, ast.Chain, ast.Group, ast.Repeat, ast.Struct, ast.Value)):
        for f in fields(node):
            _group_starts(getattr(node, f.name), out)
    return out


def _statements(tokens: list[Token]) -> list[tuple[int, list[Token]]]:
    """The parser's tokens cut into statements (each ends at a layout `_NL`; newlines inside
    brackets never reach the parser), with each statement's block nesting level."""
    out: list[tuple[int, list[Token]]] = []
    level, start_level, current = 0, 0, []
    for t in tokens:
        if t.type == "_INDENT":
            level += 1
        elif t.type == "_DEDENT":
            level -= 1
        elif t.type == "_NL":
            if current:
                out.append((start_level, current))
            current = []
        else:
            if not current:
                start_level = level
            current.append(t)
    if current:
        out.append((start_level, current))
    return out


def _logical_lines(text: str, tokens: list[Token], groups: set[tuple[int, int]]) -> list[_Line]:
    raw = text.split("\n")
    starts = {toks[0].line: (level, toks) for level, toks in _statements(tokens)}
    result: list[_Line] = []
    in_layer = False  # inside a `layer` body: its lines are tensor expressions
    k = 0
    while k < len(raw):
        if k + 1 not in starts:  # no token starts here: a blank or comment-only line
            comment = raw[k].strip()
            result.append(_Line(0, "", comment, "comment" if comment else "blank"))
            k += 1
            continue
        level, toks = starts[k + 1]
        if level == 0:
            in_layer = toks[0].type == "_LAYER"
        first, last = toks[0].line, toks[-1].end_line
        if last > first:  # a statement written over several lines (a table): keep its layout
            text_lines = [raw[first - 1].strip()] + [r.rstrip() for r in raw[first:last]]
            result.append(_Line(level, "\n".join(text_lines), "", "verbatim"))
        else:
            comment = raw[first - 1][toks[-1].end_column - 1:].strip()  # only a comment can follow
            result.append(_tensor_line(toks, level, comment) if in_layer and level > 0 else _format_statement(toks, level, comment, groups))
        k = last
    return result


def _format_statement(toks: list[Token], level: int, comment: str, groups: set[tuple[int, int]]) -> _Line:
    head = toks[0]
    if head.type == "_VARIANT":
        name_end = 3 if len(toks) > 2 and toks[2] == ":" else 2
        cells = [toks[1] + (":" if name_end == 3 else "")]
        rest = toks[name_end:]
        for group in _split_assignments(rest):
            cells.append(_join(group, spaced_ops=False))
        return _Line(level, "variant " + "  ".join(cells), comment, "variant", cells)
    if head.type == "SECTION":
        return _Line(level, head.ljust(5) + " " + _join(toks[1:], spaced_ops=False, groups=groups), comment, "section")
    if head.type == "_LET":
        return _Line(level, "let " + toks[1] + " = " + _join(toks[3:], spaced_ops=True), comment, "other")
    if head.type == "_SHARED":  # a layer, written as in a chain
        return _Line(level, "shared " + toks[1] + " = " + _join(toks[3:], spaced_ops=False), comment, "other")
    if level > 0 and len(toks) > 2 and toks[1] == "=" and head.type == "NAME":  # `h = ...` in a block
        return _Line(level, head + " = " + _join(toks[2:], spaced_ops=False, groups=groups), comment, "other")
    return _Line(level, _join(toks, spaced_ops=False, groups=groups), comment, "other")


def _tensor_line(toks: list[Token], level: int, comment: str) -> _Line:
    """A line of a `layer` body, spaced as Python: `a, b = chunk(x, 2)`, `n / (mean(n, "c") + eps)`."""
    names: list[str] = []
    k = 0
    while k + 1 < len(toks) and toks[k].type == "NAME" and toks[k + 1] in (",", "="):
        names.append(toks[k])
        k += 2
        if toks[k - 1] == "=":
            break
    else:
        names, k = [], 0
    code = _join(toks[k:], spaced_ops=True, everywhere=True)
    return _Line(level, (", ".join(names) + " = " if names else "") + code, comment, "other")


def _split_assignments(toks: list[Token]) -> list[list[Token]]:
    """`a=1 b=[1,2]` -> [[a,=,1], [b,=,[,1,,,2,]]]: each starts at NAME '=' at depth 0."""
    groups: list[list[Token]] = []
    depth = 0
    for k, t in enumerate(toks):
        starts = depth == 0 and k + 1 < len(toks) and toks[k + 1] == "=" and t.type == "NAME"
        if starts or not groups:
            groups.append([])
        groups[-1].append(t)
        if t in "([":
            depth += 1
        elif t in ")]":
            depth -= 1
    return groups


_BINARY = {"+", "-", "*", "/", "//", "**", "%", "@"}
_COMPARE = {"==", "!=", "<", ">", "<=", ">="}


def _join(toks: list[Token], spaced_ops: bool, groups: set[tuple[int, int]] = frozenset(), everywhere: bool = False) -> str:
    """Re-space tokens. Brackets track whether a comma gets a space (parens) or not (lists).
    `groups`: where the `[` of chain groups stand (`cat: [a] [b]`, `conv3 [bn relu] x2`).
    `everywhere`: binary operators spaced inside brackets too (a `layer` body, as Python)."""
    out: list[str] = []
    stack: list[str] = []
    prev = ""
    header = bool(toks) and toks[0] == "arch"
    typed = False  # inside `name: type = default`
    for k, t in enumerate(toks):
        sep = " "
        if not out:
            sep = ""
        elif t in (")", "]", ",", ":"):
            sep = ""
        elif prev in ("(", "["):
            sep = ""
        elif t == "[" and (t.line, t.column) in groups:
            sep = " "  # a group is a chain item: cat: [a] [b], conv3 [bn relu] x2
        elif t in ("(", "[") and re.match(r"[A-Za-z_0-9)\]]", prev):
            sep = ""  # call, index, list argument: conv3(64), dims[0], x[3,3]
        elif prev == ",":
            sep = " " if (stack and stack[-1] == "(") or everywhere else ""  # a layer body's lists as Python: [kd, kd, 2 * kd]
        elif t in _COMPARE or prev in _COMPARE:
            sep = " "
        elif t == "=" or prev == "=":
            sep = " " if typed else ""
            if prev == "=" and typed:
                typed = False
        elif t in _BINARY or prev in _BINARY:
            unary = prev in _BINARY and (k < 2 or toks[k - 2] in _BINARY | {"(", "[", ",", "=", ":"})
            if t == "/" and not stack and not everywhere:  # stride: conv3/2
                sep = ""
            elif prev == "/" and not stack and not everywhere:
                sep = ""
            elif unary:
                sep = ""
            else:
                sep = " " if (spaced_ops and (everywhere or not stack)) else ""
        if t == ":" and header and stack:
            typed = True
        out.append(sep + t)
        if t in ("(", "["):
            stack.append(t)
        elif t in (")", "]") and stack:
            stack.pop()
        prev = t
    text = "".join(out)
    if header:
        text = text.replace(" =", " =")
    return text


def _layout(lines: list[_Line]) -> list[str]:
    # align variant columns within runs of consecutive variant lines
    k = 0
    while k < len(lines):
        if lines[k].kind != "variant":
            k += 1
            continue
        j = k
        while j < len(lines) and lines[j].kind == "variant":
            j += 1
        run = lines[k:j]
        table = _variant_table(run)
        ncols = max(len(r) for r in table)
        widths = [max((len(r[c]) for r in table if c < len(r)), default=0) for c in range(ncols)]
        for l, row in zip(run, table):
            last = max(c for c, cell in enumerate(row) if cell)
            cells = [cell.ljust(widths[c]) for c, cell in enumerate(row[:last])] + [row[last]]
            l.code = "variant " + "  ".join(cells)
        k = j
    # align trailing comments within runs of consecutive code lines that have them
    out: list[str] = []
    k = 0
    while k < len(lines):
        l = lines[k]
        if l.kind in ("blank", "comment"):
            if l.kind == "blank":
                if out and out[-1] != "":
                    out.append("")
            else:
                out.append("    " * _comment_level(lines, k) + l.comment)
            k += 1
            continue
        if l.kind == "verbatim":
            out.append("    " * l.indent + l.code)
            k += 1
            continue
        j = k
        while j < len(lines) and lines[j].kind not in ("blank", "comment", "verbatim") and lines[j].comment:
            j += 1
        if j == k:  # code without comment
            out.append("    " * l.indent + l.code)
            k += 1
            continue
        col = max(len("    " * m.indent + m.code) for m in lines[k:j]) + 2
        for m in lines[k:j]:
            code = "    " * m.indent + m.code
            out.append(code.ljust(col) + m.comment)
        k = j
    while out and out[0] == "":
        out.pop(0)
    return out


def _variant_table(run: list[_Line]) -> list[list[str]]:
    """Cells per line: name, then one column per parameter (blank where a line does not set
    it) when every line sets its parameters in the order of the run's union, else as written."""
    keys: list[str] = []
    rows = []
    for l in run:
        names = [c.split("=", 1)[0] for c in l.cells[1:]]
        rows.append(names)
        for n in names:
            if n not in keys:
                keys.append(n)
    ordered = all(len(set(r)) == len(r) and [keys.index(n) for n in r] == sorted(keys.index(n) for n in r) for r in rows)
    if not ordered:
        return [list(l.cells) for l in run]
    table = []
    for l, names in zip(run, rows):
        row = [l.cells[0]] + [""] * len(keys)
        for n, cell in zip(names, l.cells[1:]):
            row[1 + keys.index(n)] = cell
        table.append(row)
    return table


def _comment_level(lines: list[_Line], k: int) -> int:
    """Indent a comment-only line like the next code line (so it stays in its block)."""
    for m in lines[k + 1 :]:
        if m.kind not in ("blank", "comment"):
            return m.indent
    return 0
