"""`archdsl fmt`: the canonical layout of a `.arch` file.

Comments and blank lines (at most one in a row) are kept; everything else is
re-spaced from tokens:

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
from dataclasses import dataclass

from archdsl.syntax.parser import parse_source

_TOKEN = re.compile(
    r'"[^"\n]*"'  # string
    r"|\d+x\d+x\d+"  # shape
    r"|\d+\.\d*(?:[eE][-+]?\d+)?|\d+[eE][-+]?\d+|\.\d+(?:[eE][-+]?\d+)?|\d+"  # numbers
    r"|[A-Za-z_][A-Za-z0-9_]*(?:(?<=[0-9])\.[0-9]+)?"  # names / layer words
    r"|//|\*\*|==|!=|<=|>=|[-+*/%=:,()\[\]<>]"
    r"|\S"
)
SECTIONS = ("stem", "down", "stage", "head")


@dataclass
class _Line:
    indent: int  # nesting level
    code: str  # formatted code ('' for a comment-only or blank line)
    comment: str  # '# ...' or ''
    kind: str  # variant | section | other | blank | comment
    cells: list[str] | None = None  # variant columns


def format_source(text: str, file: str = "<string>") -> str:
    """Canonical formatting of `text`. Raises ArchError if it does not parse."""
    # a block library (`use`d by others) has no `arch` header; the lexer also reads `archNAME(`
    # as `arch NAME(`, so the word boundary is not required
    library = re.search(r"^arch", text, re.M) is None
    parse_source(text, file, library=library)  # only well-formed files are formatted
    lines = _logical_lines(text)
    out = _layout(lines)
    result = "\n".join(out).rstrip("\n") + "\n"
    return result


def _split_comment(line: str) -> tuple[str, str]:
    in_str = False
    for k, ch in enumerate(line):
        if ch == '"':
            in_str = not in_str
        elif ch == "#" and not in_str:
            return line[:k], line[k:].rstrip()
    return line, ""


def _logical_lines(text: str) -> list[_Line]:
    raw = text.replace("\r\n", "\n").split("\n")
    result: list[_Line] = []
    indent_stack = [0]
    k = 0
    while k < len(raw):
        code, comment = _split_comment(raw[k])
        if not code.strip():
            result.append(_Line(0, "", comment.strip(), "comment" if comment else "blank"))
            k += 1
            continue
        width = len(code.expandtabs(8)) - len(code.expandtabs(8).lstrip())
        first = k
        parts, comments = [code], [comment] if comment else []
        depth = _depth(code)
        while (depth > 0 or parts[-1].rstrip().endswith("\\")) and k + 1 < len(raw):
            if parts[-1].rstrip().endswith("\\"):
                parts[-1] = parts[-1].rstrip()[:-1]
            k += 1
            c, cm = _split_comment(raw[k])
            parts.append(c)
            if cm:
                comments.append(cm)
            depth += _depth(c)
        k += 1
        if width > indent_stack[-1]:
            indent_stack.append(width)
        else:
            while width < indent_stack[-1]:
                indent_stack.pop()
        level = len(indent_stack) - 1
        if k - first > 1:  # a statement written over several lines (a table): keep its layout
            text_lines = [raw[first].strip()] + [r.rstrip() for r in raw[first + 1 : k]]
            result.append(_Line(level, "\n".join(text_lines), "", "verbatim"))
            continue
        tokens = _TOKEN.findall(" ".join(parts))
        result.append(_format_statement(tokens, level, "  ".join(comments)))
    return result


def _depth(code: str) -> int:
    d = 0
    for t in _TOKEN.findall(code):
        if t in "([":
            d += 1
        elif t in ")]":
            d -= 1
    return d


def _format_statement(toks: list[str], level: int, comment: str) -> _Line:
    head = toks[0]
    if head == "variant" and level == 0:
        name_end = 3 if len(toks) > 2 and toks[2] == ":" else 2
        cells = [toks[1] + (":" if name_end == 3 else "")]
        rest = toks[name_end:]
        for group in _split_assignments(rest):
            cells.append(_join(group, spaced_ops=False))
        return _Line(level, "variant " + "  ".join(cells), comment, "variant", cells)
    if head in SECTIONS and level == 0:
        return _Line(level, head.ljust(5) + " " + _join(toks[1:], spaced_ops=False), comment, "section")
    if head == "let" and level == 0:
        return _Line(level, "let " + toks[1] + " = " + _join(toks[3:], spaced_ops=True), comment, "other")
    if head == "shared" and level == 0 and len(toks) > 3 and toks[2] == "=":  # a layer, written as in a chain
        return _Line(level, "shared " + toks[1] + " = " + _join(toks[3:], spaced_ops=False), comment, "other")
    if level > 0 and len(toks) > 2 and toks[1] == "=" and re.match(r"[A-Za-z_]", head):  # `h = ...` in a block
        return _Line(level, head + " = " + _join(toks[2:], spaced_ops=False, groups=True), comment, "other")
    return _Line(level, _join(toks, spaced_ops=False, groups=level > 0), comment, "other")


def _split_assignments(toks: list[str]) -> list[list[str]]:
    """`a=1 b=[1,2]` -> [[a,=,1], [b,=,[,1,,,2,]]]: each starts at NAME '=' at depth 0."""
    groups: list[list[str]] = []
    depth = 0
    for k, t in enumerate(toks):
        starts = depth == 0 and k + 1 < len(toks) and toks[k + 1] == "=" and re.match(r"[A-Za-z_]", t)
        if starts or not groups:
            groups.append([])
        groups[-1].append(t)
        if t in "([":
            depth += 1
        elif t in ")]":
            depth -= 1
    return groups


_BINARY = {"+", "-", "*", "/", "//", "**", "%"}
_COMPARE = {"==", "!=", "<", ">", "<=", ">="}


def _join(toks: list[str], spaced_ops: bool, groups: bool = False) -> str:
    """Re-space tokens. Brackets track whether a comma gets a space (parens) or not (lists).
    `groups`: a block body line, where `[a] [b]` at the top level are two branches."""
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
        elif t == "[" and prev == "]" and groups and not stack:
            sep = " "  # branches side by side: cat: [a] [b]
        elif t in ("(", "[") and (re.match(r"[A-Za-z_0-9)\]]", prev) and not _is_keyword_before_paren(prev, out)):
            sep = ""  # call, index, list argument: conv3(64), dims[0], x[3,3]
        elif prev == ",":
            sep = " " if (stack and stack[-1] == "(") else ""
        elif t in _COMPARE or prev in _COMPARE:
            sep = " "
        elif t == "=" or prev == "=":
            sep = " " if typed else ""
            if prev == "=" and typed:
                typed = False
        elif t in _BINARY or prev in _BINARY:
            unary = prev in _BINARY and (k < 2 or toks[k - 2] in _BINARY | {"(", "[", ",", "=", ":"})
            if t == "/" and not stack:  # stride: conv3/2
                sep = ""
            elif prev == "/" and not stack:
                sep = ""
            elif unary:
                sep = ""
            else:
                sep = " " if (spaced_ops and not stack) else ""
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


def _is_keyword_before_paren(prev: str, out: list[str]) -> bool:
    return False


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
