"""Hover: what the compiler knows about the word under the cursor, as Markdown.

- a layer token: its output shape, parameters and MACs; a token the network repeats
  (a stage line `x[3,3,9,3]`, a block body) gets one row per stage and shape, with counts
  and the totals;
- a block call (or a block's name in its definition): the instances, per stage, with the
  arguments that differ between them and the totals;
- a section keyword (`stem`, `down`, `stage`, `head`): the rows `archdsl compile` prints;
- a name: its value (`dims[2] = 384`) and where it was set; a block parameter: its value
  in each instance;
- a variant line: that variant's parameters and MACs, input and output.

Counts come from the checked IR graph of the file's first variant (the model the CLI
builds by default) and the summary backend's per-node rule (`node_cost`); other variants
are compiled on demand.
"""

from __future__ import annotations

from typing import Any

from archdsl.errors import ArchError
from archdsl.lsp.analysis import Analysis, Ref
from archdsl.syntax import ast


def hover_markdown(a: Analysis, line: int, column: int) -> tuple[str, Ref] | None:
    """Markdown for the word at a 1-based line and column, and the word; None if nothing to say."""
    ref = a.ref_at(line, column)
    if ref is None:
        return None
    text = _HANDLERS.get(ref.kind, lambda a, r: None)(a, ref)
    return (text, ref) if text else None


# ---- numbers --------------------------------------------------------------------
def count(n: int) -> str:
    """`25,557,032 (25.56M)`: exact, with a readable magnitude."""
    if n >= 10**9:
        return f"{n:,} ({n / 1e9:.2f}G)"
    if n >= 10**6:
        return f"{n:,} ({n / 1e6:.2f}M)"
    if n >= 10**4:
        return f"{n:,} ({n / 1e3:.1f}k)"
    return f"{n:,}"


def short(n: int) -> str:
    if n >= 10**9:
        return f"{n / 1e9:.2f}G"
    if n >= 10**6:
        return f"{n / 1e6:.2f}M"
    if n >= 10**4:
        return f"{n / 1e3:.1f}k"
    return f"{n:,}"


def shape(s) -> str:
    return "×".join(str(v) for v in s) if s else "?"


def section_of(scope: tuple) -> str:
    """The summary's row name of a module scope: stem, stage0, stage1, ..., head."""
    if scope and scope[0] == "stages":
        return f"stage{scope[1]}"
    return str(scope[0]) if scope else "net"


def _variant_note(a: Analysis) -> str:
    return f"\n\n*variant `{a.variant}` (the file's first)*" if a.variant else ""


def _table(header: tuple[str, ...], rows: list[tuple]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" if k == 0 else "--:" for k in range(len(header))) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


# ---- layers ---------------------------------------------------------------------
def _layer(a: Analysis, ref: Ref) -> str | None:
    nodes = [n for n in a.nodes_of(ref) if n.op != "input"]
    if nodes:
        return _layer_nodes(a, ref, nodes)
    groups = [g for g in a.groups_of(ref) if g.kind in ("block", "call")]
    if groups:
        return _block_instances(a, ref.obj.word, groups)
    p = a.program
    if p is not None and ref.obj.word in p.blocks:
        return _block_signature(p.blocks[ref.obj.word]) + _unused(a)
    return _op_doc(ref.obj.word) + (_unused(a) if a.graph is not None and ref.block is not None else "")


def _unused(a: Analysis) -> str:
    return f"\n\n*not used by variant `{a.variant}`*" if a.graph is not None and a.variant else ""


def _layer_nodes(a: Analysis, ref: Ref, nodes: list) -> str:
    first = nodes[0]
    head = f"**{ref.obj.word}**"
    from archdsl import ops

    spec = ops.get(first.op)
    head += f" — {spec.doc.split('.')[0].strip()}" if spec.doc else f" — `{first.op}`"
    costs = [a.cost(n) for n in nodes]
    if len(nodes) == 1:
        p, m = costs[0]
        lines = [head, "", f"output **{shape(first.shape)}** · params **{count(p)}** · MACs **{count(m)}**"]
        if first.module_path:
            lines.append(f"\nmodule `{'.'.join(str(x) for x in first.module_path)}`")
        return "\n".join(lines) + _variant_note(a)
    rows: list[list] = []
    for n, (p, m) in zip(nodes, costs):
        key = (section_of(n.scope), shape(n.shape), p, m)
        if rows and tuple(rows[-1][:1] + rows[-1][2:5]) == key:
            rows[-1][1] += 1
        else:
            rows.append([key[0], 1, key[1], key[2], key[3]])
    total_p = sum(c[0] for c in costs)
    total_m = sum(c[1] for c in costs)
    table = [(r[0], r[1], r[2], short(r[3]), short(r[4])) for r in rows]
    lines = [head, "", f"**{len(nodes)} instances** · params **{count(total_p)}** · MACs **{count(total_m)}**", ""]
    lines += _table(("section", "×", "output", "params each", "MACs each"), table)
    return "\n".join(lines) + _variant_note(a)


def _op_doc(word: str) -> str | None:
    from archdsl import ops

    found = ops.lookup(word)
    if found is None:
        return None
    spec = found[0]
    args = ", ".join(a.name + ("" if a.positional else f"={a.default!r}") for a in spec.args)
    return f"**{word}** — {spec.doc}\n\n`{spec.name}({args})`"


# ---- blocks ---------------------------------------------------------------------
def _block_signature(b: ast.BlockDef) -> str:
    params = ", ".join(p.name for p in b.params)
    return f"**block {b.name}**({params}) — defined at {b.span}"


def _block_instances(a: Analysis, name: str, groups: list) -> str:
    per: list[list] = []  # section, blocks, output, params, macs, first args
    all_args = [g.info.get("args", {}) for g in groups]
    varying = [k for k in (all_args[0] if all_args else {}) if len({repr(x.get(k)) for x in all_args}) > 1][:5]
    total_p = total_m = 0
    for g, args in zip(groups, all_args):
        nodes = a.nodes_under(g.path)
        p = sum(a.cost(n)[0] for n in nodes)
        m = sum(a.cost(n)[1] for n in nodes)
        total_p += p
        total_m += m
        sec = section_of(g.path)
        out = shape(nodes[-1].shape) if nodes else "?"
        if per and per[-1][0] == sec:
            per[-1][1] += 1
            per[-1][2] = out
            per[-1][3] += p
            per[-1][4] += m
        else:
            per.append([sec, 1, out, p, m, args])
    label = groups[0].label or name
    lines = [f"**{label}** — block, **{len(groups)} instances** · params **{count(total_p)}** · MACs **{count(total_m)}**", ""]
    header = ("section", "blocks", "output", "params", "MACs") + tuple(varying)
    rows = [(r[0], r[1], r[2], short(r[3]), short(r[4])) + tuple(_fmt(r[5].get(k)) for k in varying) for r in per]
    lines += _table(header, rows)
    if varying:
        lines.append("\n*arguments: the first block of each section*")
    return "\n".join(lines) + _variant_note(a)


def _block_def(a: Analysis, ref: Ref) -> str:
    b: ast.BlockDef = ref.obj
    groups = _instances_of(a, b)
    if groups:
        return _block_signature(b) + "\n\n" + _block_instances(a, b.name, groups)
    return _block_signature(b) + _unused(a)


def _instances_of(a: Analysis, b: ast.BlockDef) -> list:
    if a.graph is None:
        return []
    out = []
    for g in a.graph.groups.values():
        ds = g.info.get("def_span")
        if ds is not None and (ds.file, ds.line, ds.column) == (b.span.file, b.span.line, b.span.column):
            out.append(g)
    return out


def _block_param(a: Analysis, ref: Ref, name: str | None = None) -> str | None:
    name = name or ref.obj.name
    groups = _instances_of(a, ref.block)
    if not groups:
        return f"**{name}** — parameter of block `{ref.block.name}`" + _unused(a)
    runs: list[list] = []
    for g in groups:
        v = _fmt(g.info.get("args", {}).get(name))
        sec = section_of(g.path)
        if runs and runs[-1][0] == sec and runs[-1][1] == v:
            runs[-1][2] += 1
        else:
            runs.append([sec, v, 1])
    lines = [f"**{name}** — parameter of block `{ref.block.name}`, {len(groups)} instances", ""]
    lines += _table(("section", "value", "blocks"), [tuple(r) for r in runs[:40]])
    if len(runs) > 40:
        lines.append(f"\n… {len(runs) - 40} more rows")
    return "\n".join(lines) + _variant_note(a)


# ---- sections -------------------------------------------------------------------
def _section(a: Analysis, ref: Ref) -> str | None:
    groups = a.groups_of(ref)
    sec: ast.Section = ref.obj
    if not groups:
        return f"**{sec.kind}**" + _unused(a)
    rows = []
    total_p = total_m = 0
    for g in groups:
        nodes = a.nodes_under(g.path)
        p = sum(a.cost(n)[0] for n in nodes)
        m = sum(a.cost(n)[1] for n in nodes)
        total_p += p
        total_m += m
        blocks = g.info.get("depth", "")
        rows.append((section_of(g.path) if g.kind != "down" else f"{section_of(g.path)} down", blocks,
                     shape(nodes[-1].shape) if nodes else "?", count(p), count(m)))
    lines = [f"**{sec.kind}** — params **{count(total_p)}** · MACs **{count(total_m)}**", ""]
    lines += _table(("section", "blocks", "output", "params", "MACs"), rows)
    return "\n".join(lines) + _variant_note(a)


# ---- names and values -------------------------------------------------------------
def _fmt(v: Any) -> str:
    from archdsl.ir.values import format_value

    text = format_value(v)
    return text if len(text) <= 120 else text[:117] + "…"


def _name(a: Analysis, ref: Ref) -> str | None:
    name = ref.obj.id
    p = a.program
    if ref.block is not None and any(bp.name == name for bp in ref.block.params):
        return _block_param(a, ref, name)
    if name in a.values:
        return _value(a, name, ref.index)
    if p is not None and name in p.blocks:
        b = p.blocks[name]
        groups = _instances_of(a, b)
        return _block_signature(b) + ("\n\n" + _block_instances(a, name, groups) if groups else "")
    return None


def _value(a: Analysis, name: str, index: ast.Index | None = None) -> str:
    v = a.values[name]
    lines = []
    if index is not None:
        from archdsl.ir.values import Env, evaluate

        try:
            lines.append(f"`{_source(a, index)} = {_fmt(evaluate(index, Env(a.values), a.program.blocks))}`\n")
        except ArchError:
            pass
    lines.append(f"`{name} = {_fmt(v)}`")
    where = a.value_spans.get(name)
    is_let = any(let.name == name for let in a.program.lets)
    kind = "let" if is_let else "parameter"
    if where is not None:
        origin = f"line {where.line}" if where.file == a.file else str(where)
        if not is_let and a.variant and _set_by_variant(a, name):
            origin = f"variant `{a.variant}`, " + origin
        lines.append(f"\n{kind}, set at {origin}")
    else:
        lines.append(f"\n{kind}")
    return "\n".join(lines) + _variant_note(a)


def _set_by_variant(a: Analysis, name: str) -> bool:
    v = a.program.variants.get(a.variant)
    return v is not None and any(x.name == name for x in v.assigns)


def _source(a: Analysis, e: ast.Index) -> str:
    s = e.span
    return a.line_text(s.line)[s.column - 1 : s.column - 1 + s.length] if s.file == a.file else "value"


def _declared(a: Analysis, ref: Ref) -> str | None:
    name = ref.obj.name
    if name in a.values:
        return _value(a, name)
    return None


def _variant(a: Analysis, ref: Ref) -> str:
    v: ast.Variant = ref.obj
    g = a.graph_for(v.name)
    if isinstance(g, ArchError):
        return f"**variant {v.name}** — does not compile: {g.message}"
    from archdsl.backends.summary import summarize

    s = summarize(g)
    lines = [f"**variant {v.name}** — params **{count(s['params'])}** · MACs **{count(s['macs'])}**", "",
             f"input {shape(s['input_shape'][1:])} → output {shape(s['output_shape'][1:])} · {s['nodes']:,} ops"]
    rows = [(r["name"], r["blocks"] or "", shape(r["output_shape"][1:]), short(r["params"]), short(r["macs"])) for r in s["stages"]]
    lines += [""] + _table(("section", "blocks", "output", "params", "MACs"), rows)
    return "\n".join(lines)


def _assign(a: Analysis, ref: Ref) -> str | None:
    assign: ast.Assign = ref.obj
    variant = next((v.name for v in a.program.variants.values() if assign in v.assigns), None)
    from archdsl.passes.parameters import resolve_parameters

    try:
        values = resolve_parameters(a.program, variant).values
    except ArchError as e:
        return f"**{assign.name}** — {e.message}"
    if assign.name not in values:
        return None
    return f"`{assign.name} = {_fmt(values[assign.name])}` in variant `{variant}`"


def _use(a: Analysis, ref: Ref) -> str | None:
    from archdsl.lsp.analysis import use_target

    target = use_target(ref.obj, a.file)
    if target is None:
        return None
    from pathlib import Path

    names = sorted(b.name for b in a.program.blocks.values() if Path(b.span.file).resolve() == target)
    return f"**use** `{target}`\n\nblocks: " + ", ".join(f"`{n}`" for n in names)


_HANDLERS = {
    "layer": _layer,
    "section": _section,
    "name": _name,
    "let": _declared,
    "param": _declared,
    "block_def": _block_def,
    "block_param": _block_param,
    "variant": _variant,
    "assign": _assign,
    "use": _use,
    "shared": lambda a, r: _op_doc(r.obj.layer.word),
    "default": lambda a, r: _op_doc(r.obj.layer),
}
