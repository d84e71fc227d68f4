"""The outline (document symbols) and go-to-definition.

Outline: the `arch` header with its parameters, `use` lines, lets, shared layers, blocks
(with their parameters), the sections in order and the variants. Definition: a block's
name (in this file or a `use`d library), a block-valued parameter used as a layer (the
block it names, and the parameter), a shared layer, a block parameter inside its block,
a `let`, a header parameter (also from a variant's `name=value`), and a `use` path (the
library file).
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from archdsl.errors import Span
from archdsl.lsp.analysis import Analysis, Ref, use_target
from archdsl.lsp.positions import line_range, span_range
from archdsl.syntax import ast

S = types.SymbolKind


# ---- outline ----------------------------------------------------------------------
def document_symbols(a: Analysis) -> list[types.DocumentSymbol]:
    p = a.program
    if p is None:
        return []
    out: list[tuple[int, types.DocumentSymbol]] = []

    def sym(name: str, kind, span: Span, last: int | None = None, detail: str | None = None, children=None):
        first = span.line
        rng = line_range(a.lines, first, last or statement_end(a.lines, first))
        sel = span_range(span, a.line_text(span.line))
        return types.DocumentSymbol(name=name, kind=kind, range=rng, selection_range=sel, detail=detail, children=children or None)

    if not a.library and p.span.file == a.file:
        params = [sym(q.name, S.Property, q.span, q.span.line) for q in p.params if q.span.file == a.file]
        out.append((p.span.line, sym(p.name, S.Module, p.span, detail="arch", children=params)))
    for use in p.uses:
        if use.span.file == a.file:
            out.append((use.span.line, sym(f'use "{use.path}"', S.Namespace, use.span)))
    for let in p.lets:
        out.append((let.span.line, sym(let.name, S.Variable, let.span, detail="let")))
    for sh in p.shared.values():
        out.append((sh.span.line, sym(sh.name, S.Variable, sh.span, detail=f"shared {sh.layer.word}")))
    for b in p.blocks.values():
        if b.span.file != a.file:
            continue
        kids = [sym(q.name, S.TypeParameter, q.span, q.span.line) for q in b.params]
        out.append((b.span.line, sym(b.name, S.Function, b.span, block_end(a.lines, b.span.line), "block", kids)))
    for sec in p.sections:
        text = a.line_text(sec.span.line)[sec.span.column - 1 + len(sec.kind):].split("#", 1)[0].strip()
        out.append((sec.span.line, sym(sec.kind, S.Field, sec.span, detail=text[:60])))
    for v in p.variants.values():
        detail = " ".join(f"{x.name}=…" for x in v.assigns)[:60]
        out.append((v.span.line, sym(f"variant {v.name}", S.EnumMember, v.span, detail=detail)))
    return [s for _, s in sorted(out, key=lambda t: t[0])]


def statement_end(lines: list[str], first: int) -> int:
    """The last line of the statement starting at `first` (brackets may continue it)."""
    depth = 0
    for n in range(first, len(lines) + 1):
        text = lines[n - 1]
        in_str = False
        for ch in text:
            if ch == '"':
                in_str = not in_str
            elif in_str:
                continue
            elif ch == "#":
                break
            elif ch in "([":
                depth += 1
            elif ch in ")]":
                depth -= 1
        if depth <= 0:
            return n
    return len(lines) or first


def block_end(lines: list[str], first: int) -> int:
    """The last line of a block definition: its header, then the indented body."""
    last = statement_end(lines, first)
    for n in range(last + 1, len(lines) + 1):
        text = lines[n - 1]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if text[0] in " \t":
            last = n
        else:
            break
    return last


# ---- definition ---------------------------------------------------------------------
def definition(a: Analysis, uri: str, line: int, column: int) -> list[types.Location]:
    ref = a.ref_at(line, column)
    if ref is None or a.program is None:
        return []
    return [_location(a, uri, s) for s in _targets(a, ref)]


def _targets(a: Analysis, ref: Ref) -> list[Span]:
    p = a.program
    if ref.kind == "use":
        target = use_target(ref.obj, a.file)
        return [Span(str(target), 1, 1, 1, "")] if target is not None else []
    if ref.kind == "assign":
        return [q.span for q in p.params if q.name == ref.obj.name] or _implicit_depths(p, ref.obj.name)
    if ref.kind not in ("layer", "name"):
        return []
    name = ref.obj.word if ref.kind == "layer" else ref.obj.id
    if ref.block is not None:
        bp = next((q for q in ref.block.params if q.name == name), None)
        if bp is not None:
            return [bp.span]
    if name in p.blocks:
        return [p.blocks[name].span]
    if name in p.shared:
        return [p.shared[name].span]
    out = []
    value = a.values.get(name)
    if value is not None and type(value).__name__ == "BlockRef" and value.name in p.blocks:
        out.append(p.blocks[value.name].span)  # `stage block x[...]`: the block the parameter names
    out += [let.span for let in p.lets if let.name == name]
    out += [q.span for q in p.params if q.name == name]
    return out or _implicit_depths(p, name)


def _implicit_depths(p: ast.Program, name: str) -> list[Span]:
    if name != "depths":
        return []
    from archdsl.passes.parameters import implicit_depths_section

    sec = implicit_depths_section(p)
    if sec is None:
        return []
    rep = [it for it in sec.chain.items if not isinstance(it, ast.Option)][-1]
    return [rep.span]


def _location(a: Analysis, uri: str, span: Span) -> types.Location:
    if span.file == a.file:
        return types.Location(uri, span_range(span, a.line_text(span.line)))
    return types.Location(Path(span.file).resolve().as_uri(), span_range(span))
