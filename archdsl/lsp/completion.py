"""Completion: what may be typed at the cursor, from the op registry and the document.

The context is read from the text of the line up to the cursor (the document is often
not parseable while it is being typed; names come from the last version that parsed):

- inside `use "...`: block libraries (the zoo's `blocks/*.arch`, `.arch` files near the document);
- inside a layer's parentheses: its keyword arguments (`g=`, `bias=`), then parameters and lets;
  inside a block call's: the block's parameters;
- after `=` or inside brackets in an expression: parameters, lets and functions;
- the first word of an unindented line: the statement keywords;
- after a variant's name: the header parameters as `name=`;
- elsewhere in a chain: layer tokens with their size suffix (typing `mlp` offers `mlp4`),
  blocks, structures (`residual:`) and shared layers.
"""

from __future__ import annotations

import re
from pathlib import Path

from lsprotocol import types

from archdsl.lsp.analysis import Analysis
from archdsl.syntax import ast

KEYWORDS = ("arch", "input", "init", "use", "default", "let", "shared", "block", "stem", "down", "stage", "head", "variant")
STRUCTS = ("residual", "cat", "add", "dense", "patches", "aux", "split", "outputs")
K = types.CompletionItemKind


def complete(a: Analysis, names_from: Analysis | None, line: int, line_text: str, char: int) -> list[types.CompletionItem]:
    """Completion items at a 0-based line and character; `names_from` is the last analysis
    whose program parsed (blocks, parameters and lets come from it when `a` does not parse)."""
    before = line_text[:char]
    prefix = re.search(r"[A-Za-z_][A-Za-z0-9_.]*$", before)
    word = prefix.group(0) if prefix else ""
    program = a.program or (names_from.program if names_from is not None else None)
    values = a.values or (names_from.values if names_from is not None else {})

    use = re.match(r'\s*use\s+"([^"]*)$', before)
    if use:
        start = types.Position(line, char - len(use.group(1)))
        items = _use_paths(a.file, use.group(1))
        for it in items:  # replace the whole typed path: `/` ends a word for most editors
            it.text_edit = types.TextEdit(types.Range(start, types.Position(line, char)), it.label)
        return items
    code = before.split("#", 1)[0] if before.count('"') % 2 == 0 else before
    if "#" in before and code != before:
        return []  # in a comment
    stripped = code.lstrip()
    if stripped == word and code == stripped:  # the first word of an unindented line
        items = [_item(k, K.Keyword, "statement") for k in KEYWORDS]
        return _filter(items, word)
    if re.match(r"\s*variant\s+\w+\s", code):
        return _filter(_param_items(program, assign=True), word)
    call = _open_call(code)
    items: list[types.CompletionItem] = []
    if call is not None:
        items += _call_args(program, call)
        items += _name_items(program, values)
        return _filter(items, word)
    if re.search(r"(=|\[|,|\(|[-+*/%<>])\s*[A-Za-z_0-9.]*$", code) or re.match(r"\s*let\s+\w+\s*=", code):
        return _filter(_name_items(program, values), word)
    items += _layer_items(a, word)
    if program is not None:
        items += [_item(b.name, K.Class, "block(" + ", ".join(p.name for p in b.params) + ")", _where(b.span))
                  for b in program.blocks.values()]
        items += [_item(s.name, K.Variable, f"shared layer = {s.layer.word}") for s in program.shared.values()]
        items += _param_items(program)  # a block-valued parameter used as a layer (`stage block x[...]`)
    items += [_item(s + ":", K.Struct, "structure") for s in STRUCTS]  # a structure is a chain item like a layer
    return _filter(items, word)


def _filter(items: list[types.CompletionItem], word: str) -> list[types.CompletionItem]:
    seen, out = set(), []
    for it in items:
        if it.label.startswith(word) and it.label not in seen:
            seen.add(it.label)
            out.append(it)
    return out


def _item(label: str, kind, detail: str = "", doc: str | None = None, insert: str | None = None) -> types.CompletionItem:
    return types.CompletionItem(label=label, kind=kind, detail=detail or None,
                                documentation=types.MarkupContent(types.MarkupKind.Markdown, doc) if doc else None,
                                insert_text=insert)


def _where(span) -> str:
    return f"defined at {span}"


def _signature(spec) -> str:
    size = f"<{spec.size}>" if spec.size else ""
    stride = "[/stride]" if spec.strided else ""
    args = ", ".join(a.name if a.positional else f"{a.name}={a.default!r}" for a in spec.args)
    return f"{spec.name}{size}{stride}({args})"


def _layer_items(a: Analysis, word: str) -> list[types.CompletionItem]:
    """Every layer token: the bare name where no size is needed, the registry's example
    size (`mlp4`, `dw7`, `se0.25`) and the sizes this document already writes."""
    from archdsl import ops

    used: dict[str, set[str]] = {}
    for refs in a.refs.values():
        for r in refs:
            if r.kind == "layer":
                found = ops.lookup(r.obj.word)
                if found is not None:
                    used.setdefault(found[0].name, set()).add(r.obj.word)
    out = []
    for spec in ops.user_ops():
        words = set(used.get(spec.name, ()))
        if not spec.size_required:
            words.add(spec.name)
        if spec.size:
            example = re.match(r"[a-z_]+[0-9.x]*", spec.example or "")
            if example and example.group(0) != spec.name:
                words.add(example.group(0))
        for w in sorted(words, key=lambda w: (w != spec.name, len(w), w)):
            out.append(_item(w, K.Function, _signature(spec), spec.doc + (f"\n\nexample: `{spec.example}`" if spec.example else "")))
    return out


def _open_call(code: str) -> str | None:
    """The word before the innermost `(` still open at the cursor, or None."""
    depth = 0
    for k in range(len(code) - 1, -1, -1):
        ch = code[k]
        if ch in ")]":
            depth += 1
        elif ch in "([":
            if depth == 0:
                if ch == "[":
                    return None
                m = re.search(r"([A-Za-z_][A-Za-z0-9_.]*)(/\w+)?\s*$", code[:k])
                return m.group(1) if m else ""
            depth -= 1
    return None


def _call_args(program: ast.Program | None, word: str) -> list[types.CompletionItem]:
    from archdsl import ops

    if program is not None and word in program.blocks:
        b = program.blocks[word]
        return [_item(p.name + "=", K.Property, f"parameter of block {b.name}") for p in b.params]
    found = ops.lookup(word)
    if found is None:
        return []
    spec = found[0]
    return [_item(arg.name + "=", K.Property, f"{arg.type}, default {arg.default!r}", arg.doc or None) for arg in spec.args]


def _name_items(program: ast.Program | None, values: dict) -> list[types.CompletionItem]:
    from archdsl.ir.values import FUNCTIONS, format_value

    out = []
    if program is not None:
        for p in program.params:
            v = values.get(p.name)
            out.append(_item(p.name, K.Variable, "parameter" + (f" = {_clip(format_value(v))}" if p.name in values else "")))
        for let in program.lets:
            v = values.get(let.name)
            out.append(_item(let.name, K.Variable, "let" + (f" = {_clip(format_value(v))}" if let.name in values else "")))
        if "depths" in values and all(p.name != "depths" for p in program.params):
            out.append(_item("depths", K.Variable, f"parameter (the stage line's x[...]) = {format_value(values['depths'])}"))
    out += [_item(name, K.Function, doc) for name, (_, doc) in FUNCTIONS.items()]
    return out


def _clip(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def _param_items(program: ast.Program | None, assign: bool = False) -> list[types.CompletionItem]:
    if program is None:
        return []
    items = [_item(p.name + ("=" if assign else ""), K.Property, "header parameter") for p in program.params]
    if assign:
        from archdsl.passes.parameters import implicit_depths_section

        if implicit_depths_section(program) is not None:
            items.append(_item("depths=", K.Property, "the stage line's x[...] counts"))
    return items if assign else [it for it in items if _is_block_param(program, it.label)]


def _is_block_param(program: ast.Program, name: str) -> bool:
    p = next((p for p in program.params if p.name == name), None)
    return p is not None and (p.type == "block" or (isinstance(p.default, ast.Name) and p.default.id in program.blocks))


def _use_paths(file: str, typed: str) -> list[types.CompletionItem]:
    from archdsl.source import zoo_dir

    paths: set[str] = set()
    zoo = zoo_dir()
    if zoo is not None and (zoo / "blocks").is_dir():
        paths |= {f"blocks/{p.name}" for p in (zoo / "blocks").glob("*.arch")}
    if not file.startswith("<"):
        here = Path(file).resolve().parent
        for p in list(here.glob("*.arch")) + list(here.glob("*/*.arch")):
            if p.resolve() != Path(file).resolve() and not _has_header(p):
                paths.add(p.relative_to(here).as_posix())
    return [_item(p, K.File, "block library") for p in sorted(paths) if p.startswith(typed)]


def _has_header(path: Path) -> bool:
    """A file with an `arch` header is a network, not a block library."""
    try:
        head = path.read_text(encoding="utf-8", errors="replace")[:20000]
    except OSError:
        return True
    return re.search(r"^arch", head, re.M) is not None
