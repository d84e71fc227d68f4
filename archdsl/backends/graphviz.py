"""Graphviz backend: architecture diagrams drawn from the IR graph (never from torch modules).

Levels of detail (`depth`):

    0       one box per section (stem, each stage, head) with its layers in the DSL's
            notation, the repeat count (`x9`), the output shape, parameters and MACs
    1       stem, head and downsampling layers op by op; one block of each stage drawn
            with its layers, labelled with the stage's repeat count
    "full"  every op; consecutive identical blocks are drawn once with `xN`

Each drawn op shows its token as written in the DSL (`dw7`, `mlp4`, `conv3/2(128)`), its
output shape and its parameter count, filled with the colour of its op family (legend at
the bottom). Residual shortcuts (identity and projection) are dashed; branches and
concatenations are ordinary edges into `+` / `cat` merge nodes.

The DOT text depends only on the IR: the same file gives byte-identical DOT. Writing an
image needs the Graphviz `dot` program; `.dot` output does not.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

import graphviz

from archdsl import ops
from archdsl.backends.diagram_files import (  # noqa: F401 - re-exported: the render entry points
    DEPTHS,
    FORMATS,
    INSTALL_HINT,
    RANKDIRS,
    fmt_count,
    fmt_shape,
    fmt_shape_range,
    output_format,
    parse_depth,
    parse_rankdir,
    write,
)
from archdsl.backends.summary import node_cost
from archdsl.ir.graph import Graph, Node

# Fill colours by op family (pastel, readable in print and in grey-scale).
FAMILY_COLORS = {
    "conv": "#c6dbef",
    "norm": "#fdf0b3",
    "act": "#d5ecc2",
    "attention": "#e2cfea",
    "pool": "#f9c9c0",
    "linear": "#fcd9a8",
    "structure": "#e8e8e8",
    "regularization": "#f4f4f4",
}
FAMILY_NAMES = {
    "conv": "convolution",
    "norm": "normalization",
    "act": "activation",
    "attention": "attention",
    "pool": "pooling",
    "linear": "linear / MLP",
    "structure": "reshape / merge",
    "regularization": "regularization",
}
OTHER_COLOR = "#ffffff"
EDGE_COLOR = "#555555"
SHORTCUT_COLOR = "#8a8a8a"
FONT = "Helvetica"
MAX_CELLS = 48  # depth 0: a section with more ops than this shows their count instead
ROW_CELLS = 12  # depth 0: at most this many op cells on one row



_STRIDE_ONE = re.compile(r"/1(?![0-9])")


def op_text(node: Node) -> str:
    """The node's label from its registry entry, else its DSL token without a redundant `/1`
    stride (`conv3/s` at s=1 is `conv3`)."""
    label = ops.get(node.op).label
    return label(node.attrs) if label is not None else _STRIDE_ONE.sub("", node.token)


def _esc(text: str) -> str:
    return html.escape(str(text), quote=True)


def _family(node: Node) -> str:
    try:
        return ops.get(node.op).family
    except KeyError:  # an op unknown to the registry cannot come out of the compiler
        return "other"


def _color(family: str) -> str:
    return FAMILY_COLORS.get(family, OTHER_COLOR)


# ---- structure: sections, blocks, runs of identical blocks ---------------------------
@dataclass
class _Run:
    """Consecutive stage blocks drawn once: `first` is drawn, the others are counted."""

    blocks: list[tuple]  # group paths
    identical: bool  # all blocks have the same signature (else: depth 1 shows the first)

    @property
    def first(self) -> tuple:
        return self.blocks[0]


@dataclass
class _Layout:
    g: Graph
    depth: int | str
    members: dict[tuple, list[Node]] = field(default_factory=dict)  # block path -> its nodes
    sections: dict[tuple, list[Node]] = field(default_factory=dict)  # section key -> its nodes
    cost: dict[int, tuple[int, int]] = field(default_factory=dict)
    _runs: dict[tuple, list[_Run]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for n in self.g:
            if n.op == "input":
                continue
            self.cost[n.id] = node_cost(self.g, n)
            self.sections.setdefault(self.section_of(n), []).append(n)
            if len(n.scope) >= 4 and n.scope[0] == "stages" and n.scope[2] == "blocks":
                self.members.setdefault(n.scope[:4], []).append(n)

    def section_of(self, node: Node) -> tuple:
        if node.op == "input":
            return ("input",)
        if node.scope[:1] == ("stages",):
            return node.scope[:2]
        return node.scope[:1] or ("net",)

    def signature(self, path: tuple) -> tuple:
        """What makes two blocks the same drawing: ops, tokens, attributes and wiring.

        Shapes are left out, so DenseNet's layers (same notation, growing input) collapse
        into one drawing that shows the range of shapes. So are drop-path ops: their rate
        rises from block to block (and is zero in the first block), a training detail."""
        pos: dict[int, Any] = {}
        sig = []
        for n in self.members.get(path, []):
            if n.op == "drop_path":
                pos[n.id] = pos.get(n.inputs[0], -1)
                continue
            pos[n.id] = len(sig)
            attrs = repr(sorted((k, v) for k, v in n.attrs.items() if not k.startswith("_")))
            sig.append((n.op, op_text(n), n.scope[4:], n.sub, tuple(pos.get(i, -1) for i in n.inputs), attrs))
        return tuple(sig)

    def peers(self, run: _Run) -> dict[int, list[Node]]:
        """For each op of the drawn block of a run of identical blocks: the same op in every
        block of the run (drop-path ops matched by their order, as some blocks lack one)."""
        if not run.identical or len(run.blocks) == 1:
            return {}
        out: dict[int, list[Node]] = {}
        for keep in (lambda n: n.op != "drop_path", lambda n: n.op == "drop_path"):
            lists = [[n for n in self.members[b] if keep(n)] for b in run.blocks]
            for k, n in enumerate(lists[0]):
                out[n.id] = [nodes[k] for nodes in lists if k < len(nodes)]
        return out

    def runs(self, stage: tuple) -> list[_Run]:
        if stage not in self._runs:
            self._runs[stage] = self._find_runs(stage)
        return self._runs[stage]

    def _find_runs(self, stage: tuple) -> list[_Run]:
        blocks = sorted((p for p in self.g.groups if len(p) == 4 and p[:2] == stage and p[2] == "blocks"), key=lambda p: p[3])
        if not blocks:
            return []
        if self.depth == 1:
            sigs = {self.signature(b) for b in blocks}
            return [_Run(blocks, len(sigs) == 1)]
        runs: list[_Run] = []
        last = None
        for b in blocks:
            sig = self.signature(b)
            if runs and sig == last:
                runs[-1].blocks.append(b)
            else:
                runs.append(_Run([b], True))
            last = sig
        return runs


# ---- the drawing -----------------------------------------------------------------------
@dataclass
class _Cluster:
    name: str
    attrs: dict[str, str]
    nodes: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    children: dict[str, "_Cluster"] = field(default_factory=dict)


def draw(g: Graph, depth: int | str = 1, rankdir: str = "TB") -> graphviz.Digraph:
    """The diagram of a compiled IR graph as a `graphviz.Digraph` (no `dot` program needed)."""
    depth = parse_depth(depth)
    rankdir = parse_rankdir(rankdir)
    lay = _Layout(g, depth)
    dot = graphviz.Digraph(name=_ident(g.name))
    dot.attr("graph", rankdir=rankdir, fontname=FONT, fontsize="14", labelloc="t", nodesep="0.25", ranksep="0.3")
    dot.attr("node", fontname=FONT, fontsize="11", shape="box", style="rounded,filled", color="#444444",
             penwidth="0.8", margin="0.08,0.03", height="0.3")
    dot.attr("edge", color=EDGE_COLOR, arrowsize="0.6", penwidth="0.9")
    families: set[str] = set()
    if depth == 0:
        edges = _draw_sections(dot, lay, families)
        shortcut_edges = False
    else:
        edges, shortcut_edges = _draw_ops(dot, lay, families)
    for tail, head, attrs in edges:
        dot.edge(tail, head, **attrs)
    dot.attr("graph", label=_title(lay, families, shortcut_edges))  # last, so clusters do not inherit it
    return dot


def _ident(name: str) -> str:
    return re.sub(r"\W", "_", name) or "arch"


def _input_node(dot: graphviz.Digraph, g: Graph) -> None:
    dot.node("input", f"<<b>input</b><br/><font point-size=\"9\">{fmt_shape(g.input_shape)}</font>>",
             shape="box", style="rounded", color="#444444")


# ---- depth 0 ---------------------------------------------------------------------------
def _draw_sections(dot: graphviz.Digraph, lay: _Layout, families: set[str]):
    g = lay.g
    _input_node(dot, g)
    sections = lay.sections
    ids = {key: _section_id(key) for key in sections}
    ids[("input",)] = "input"
    for key, nodes in sections.items():
        dot.node(ids[key], _section_label(lay, key, nodes, families), shape="box", style="rounded", margin="0.05",
                 tooltip=_section_title(g, key, nodes)[0])
    edges: list[tuple[str, str, dict]] = []
    seen: set[tuple[str, str]] = set()
    for n in g:
        for src in n.inputs:
            a, b = ids[lay.section_of(g.nodes[src])], ids[lay.section_of(n)]
            if a != b and (a, b) not in seen:
                seen.add((a, b))
                edges.append((a, b, {}))
    return edges


def _section_id(key: tuple) -> str:
    return "_".join(str(k) for k in key).replace("stages_", "stage")


def _section_title(g: Graph, key: tuple, nodes: list[Node]) -> tuple[str, str]:
    if key[0] == "stages":
        grp = g.groups.get(key)
        depth = grp.info.get("depth", 0) if grp else 0
        blocks = [p for p in g.groups if len(p) == 4 and p[:2] == key and p[2] == "blocks"]
        label = g.groups[blocks[0]].label if blocks else ""
        shown = "" if label in ("", "block") else label + " "
        return f"stage {key[1]}", f"{shown}×{depth}" if depth else ""
    return key[0], ""


def _section_label(lay: _Layout, key: tuple, nodes: list[Node], families: set[str]) -> str:
    g = lay.g
    name, repeat = _section_title(g, key, nodes)
    rows: list[str] = []
    head = f"<b>{_esc(name)}</b>" + (f"  {_esc(repeat)}" if repeat else "")
    rows.append(f'<tr><td align="center">{head}</td></tr>')
    if key[0] == "stages":
        down = [n for n in nodes if n.scope[2:3] == ("down",)]
        blocks = sorted({n.scope[:4] for n in nodes if n.scope[2:3] == ("blocks",)}, key=lambda p: p[3])
        parts = []
        if down:
            parts.append(("down", down, 3))
        if blocks:
            body = [n for n in lay.members[blocks[0]] if n.sub != ("shortcut",) and n.op != "drop_path"]
            parts.append(("block" if down else None, body, 4))
        rows.append(_cells_row(g, parts, families))
    else:
        rows.append(_cells_row(g, [(None, nodes, 1)], families))
    p = sum(lay.cost[n.id][0] for n in nodes)
    m = sum(lay.cost[n.id][1] for n in nodes)
    stats = [fmt_shape(nodes[-1].shape), f"{fmt_count(p)} params"]
    if m:
        stats.append(f"{fmt_count(m)} MACs")
    rows.append(f'<tr><td align="center"><font point-size="9">{_esc(" · ".join(stats))}</font></td></tr>')
    return '<<table border="0" cellborder="0" cellspacing="2" cellpadding="1">' + "".join(rows) + "</table>>"


def _cell_items(g: Graph, nodes: list[Node], base: int, level: int) -> list:
    """Ops to show as cells, with block calls nested deeper than `level` (below the scope
    prefix of length `base`) each shown as one cell: a Node, or a call group's path."""
    items: list = []
    for n in nodes:
        calls = [n.scope[:e] for e in range(base + 1, len(n.scope) + 1) if getattr(g.groups.get(n.scope[:e]), "kind", "") == "call"]
        item = calls[level] if len(calls) > level else n
        # a `layer` defined in the file is one cell, named as written, never its primitives
        layer = next((n.scope[:e] for e in range(base + 1, len(n.scope) + 1)
                      if getattr(g.groups.get(n.scope[:e]), "kind", "") == "layer"), None)
        if layer is not None and (isinstance(item, Node) or len(layer) < len(item)):
            item = layer
        if not items or items[-1] is not item and items[-1] != item:
            items.append(item)
    return items


def _cells_row(g: Graph, parts: list[tuple[str | None, list[Node], int]], families: set[str]) -> str:
    """The layers of a section as rows of coloured cells, one cell per op.

    Block calls inside (SqueezeNet's `fire`) are expanded as deep as ROW_CELLS * 2 cells
    allow, else shown as one cell named after the block. Graphviz stretches the cells of a
    shorter row to the width of the longest, so long sections are split into rows of nearly
    equal length; a section needing more than MAX_CELLS cells shows its op count instead."""
    nesting = max((sum(1 for e in range(base + 1, len(n.scope) + 1) if getattr(g.groups.get(n.scope[:e]), "kind", "") == "call")
                   for _, nodes, base in parts for n in nodes), default=0)
    for level in range(nesting, -1, -1):
        chosen = [(prefix, _cell_items(g, nodes, base, level)) for prefix, nodes, base in parts]
        if sum(len(items) for _, items in chosen) <= ROW_CELLS * 2:
            break
    total = sum(len(items) for _, items in chosen)
    cells = []
    for (prefix, items), (_, nodes, _) in zip(chosen, parts):
        if prefix:
            cells.append(f'<td border="0"><font point-size="9">{_esc(prefix)}</font></td>')
        if total > MAX_CELLS:
            families.update(_family(n) for n in nodes)
            cells.append(f'<td border="0"><font point-size="9">{len(nodes)} ops</font></td>')
            continue
        for item in items:
            if isinstance(item, Node):
                families.add(_family(item))
                cells.append(f'<td border="1" color="#777777" bgcolor="{_color(_family(item))}" cellpadding="3">{_esc(op_text(item))}</td>')
            else:
                cells.append(f'<td border="1" color="#777777" bgcolor="{OTHER_COLOR}" cellpadding="3"><i>{_esc(g.groups[item].label)}</i></td>')
    n_rows = -(-len(cells) // ROW_CELLS)
    per_row = -(-len(cells) // max(1, n_rows))
    rows = [cells[k:k + per_row] for k in range(0, len(cells), per_row)]
    return "".join('<tr><td><table border="0" cellborder="0" cellspacing="2"><tr>' + "".join(r) + "</tr></table></td></tr>"
                   for r in rows)


# ---- depth 1 and full ------------------------------------------------------------------
def _draw_ops(dot: graphviz.Digraph, lay: _Layout, families: set[str]):
    g = lay.g
    root = _Cluster("", {})
    drawn: set[int] = set()
    stand_in: dict[int, int] = {}  # hidden node -> the drawn node that represents its output
    run_of: dict[tuple, _Run] = {}  # drawn block path -> its run
    peers: dict[int, list[Node]] = {}  # drawn op -> the ops it stands for
    for key in dict.fromkeys(lay.section_of(n) for n in g):
        if key[0] != "stages":
            continue
        for run in lay.runs(key):
            run_of[run.first] = run
            peers.update(lay.peers(run))
            out = _block_output(g, lay.members[run.first])
            for other in run.blocks[1:]:
                for n in lay.members[other]:
                    stand_in[n.id] = out

    def cluster_for(path: list[tuple[str, dict[str, str]]]) -> _Cluster:
        c = root
        for name, attrs in path:
            c = c.children.setdefault(name, _Cluster(name, attrs))
        return c

    _input_node(dot, g)
    drawn.add(g.input_id)
    for n in g:
        if n.op == "input" or n.id in stand_in:
            continue
        drawn.add(n.id)
        fam = _family(n)
        families.add(fam)
        node_attrs = _node_attrs(lay, n, fam, peers.get(n.id, [n]))
        cluster_for(_cluster_path(lay, n, run_of)).nodes.append((f"n{n.id}", node_attrs))
    _emit(dot, root)

    edges: list[tuple[str, str, dict]] = []
    seen: set[tuple[int, int]] = set()
    shortcut_edges = False
    for n in g:
        if n.id not in drawn or n.op == "input":
            continue
        for k, src in enumerate(n.inputs):
            src = stand_in.get(src, src)
            if src not in drawn or (src, n.id) in seen:
                continue
            seen.add((src, n.id))
            attrs = {}
            s = g.nodes[src]
            shortcut = (n.op == "add" and n.attrs.get("residual") and k == 1) or n.sub == ("shortcut",) \
                or (n.op == "cat" and n.token == "dense" and k == 0)
            if shortcut:
                shortcut_edges = True
                attrs = {"style": "dashed", "color": SHORTCUT_COLOR, "weight": "0"}
            edges.append(("input" if s.op == "input" else f"n{src}", f"n{n.id}", attrs))
    return edges, shortcut_edges


def _block_output(g: Graph, members: list[Node]) -> int:
    ids = {n.id for n in members}
    for n in reversed(members):
        if n.id == g.output_id or any(s not in ids for s in g.readers(n.id)):
            return n.id
    return members[-1].id


def _cluster_path(lay: _Layout, n: Node, run_of: dict[tuple, _Run]) -> list[tuple[str, dict[str, str]]]:
    """The nested clusters a drawn op sits in: section, then down / block run, then one
    dotted cluster per nested block call."""
    g = lay.g
    base = {"style": "rounded", "color": "#999999", "fontname": FONT, "fontsize": "11", "labeljust": "l", "margin": "12"}
    sec = lay.section_of(n)
    sid = _section_id(sec)
    if sec[0] != "stages":
        path = [(f"cluster_{sid}", dict(base, **_cluster_label([(sec[0], True, 11)], False)))]
        inner = 1
    else:
        runs = lay.runs(sec)
        single = len(runs) == 1 and (sec + ("down",)) not in g.groups  # one run: the stage cluster says it all
        block = n.scope[:4] if n.scope[2:3] == ("blocks",) else None
        run_label = _run_label(g, run_of[block], len(runs)) if block else ("", "")
        drawn_here = [m for m in lay.sections[sec] if m.scope[:4] in run_of or m.scope[2:3] != ("blocks",)]
        path = [(f"cluster_{sid}", dict(base, **_cluster_label(_stage_label_lines(lay, sec, run_label if single else None),
                                                              _single_column(drawn_here))))]
        inner = 2
        if n.scope[2:3] == ("down",):
            path.append((f"cluster_{sid}_down", dict(base, style="rounded,dotted", label="down")))
            inner = 3
        elif block is not None:
            inner = 4
            if not single:
                path.append((f"cluster_{sid}_b{block[3]}", dict(base, style="rounded,filled", fillcolor="#fafafa",
                                                                 color="#bbbbbb",
                                                                 **_cluster_label([(run_label[0], True, 11)] + ([(run_label[1], False, 9)] if run_label[1] else []),
                                                                                  _single_column(lay.members[block])))))
    for end in range(inner + 1, len(n.scope) + 1):
        grp = g.groups.get(n.scope[:end])
        if grp is not None and grp.kind == "call":
            name = "cluster_" + "_".join(_ident(str(s)) for s in n.scope[:end])
            path.append((name, dict(base, style="rounded,dotted", label=_esc(grp.label))))
    return path


def _run_label(g: Graph, run: _Run, n_runs: int) -> tuple[str, str]:
    """Title and note of a run: (`bottleneck ×3`, `first block drawn`) when the blocks
    differ, (`block ×9`, ``) when they are identical, (`bottleneck`, `block 0`) alone."""
    first = run.first
    label = g.groups[first].label
    count = len(run.blocks)
    if count > 1:
        return f"{label} ×{count}", "" if run.identical else "first block drawn"
    return label, f"block {first[3]}" if n_runs > 1 else ""


def _stage_label_lines(lay: _Layout, sec: tuple, run_label: tuple[str, str] | None) -> list[tuple[str, bool, int]]:
    members = lay.sections[sec]
    p = sum(lay.cost[n.id][0] for n in members)
    out = members[-1].shape if members else None
    title, note = run_label or ("", "")
    lines = [(f"stage {sec[1]}" + (f"  {title}" if title else ""), True, 11), (f"{fmt_shape(out)} · {fmt_count(p)} params", False, 9)]
    return lines + ([(note, False, 9)] if note else [])


def _single_column(nodes: list[Node]) -> bool:
    """True when the ops draw as one column: no projection shortcut, no branches (a
    residual or dense skip is an edge beside the column, not a column of its own)."""
    return not any(n.sub == ("shortcut",) or (n.op in ("add", "cat") and not n.attrs.get("residual") and n.token != "dense")
                   for n in nodes)


def _cluster_label(lines: list[tuple[str, bool, int]], single_column: bool) -> dict[str, str]:
    """Label attributes for a cluster: lines of (text, bold, point size).

    Graphviz writes a cluster's label where the edge into the cluster arrives. A single
    column of ops enters in the middle, so its label goes to the right, after an empty
    cell as wide as the text that makes the cluster wide enough to keep the two apart;
    wider clusters (ResNet's projection column on the left) keep it on the left."""
    width = max(int(len(text) * size * (0.62 if bold else 0.55)) for text, bold, size in lines) + 6
    rows = []
    for k, (text, bold, size) in enumerate(lines):
        body = f"<b>{_esc(text)}</b>" if bold else _esc(text)
        if size != 11:
            body = f'<font point-size="{size}">{body}</font>'
        pad = f'<td rowspan="{len(lines)}" width="{width}"></td>' if k == 0 and single_column else ""
        rows.append(f'<tr>{pad}<td align="left">{body}</td></tr>')
    label = '<<table border="0" cellborder="0" cellspacing="0" cellpadding="0">' + "".join(rows) + "</table>>"
    return {"label": label, "labeljust": "r" if single_column else "l"}


def _node_attrs(lay: _Layout, n: Node, fam: str, peers: list[Node]) -> dict[str, str]:
    """Label, colour and tooltip of a drawn op; `peers` are the ops it stands for."""
    params = sorted({lay.cost[m.id][0] for m in peers})
    tooltip = ".".join(str(p) for p in n.module_path) or n.op
    tooltip += f": {op_text(n)} -> {fmt_shape(n.shape)}, {lay.cost[n.id][0]:,} params"
    if len(peers) > 1:
        tooltip += f" (drawn once for {len(peers)} blocks)"
    if n.op == "add":
        return {"label": "+", "shape": "circle", "style": "filled", "fillcolor": "#ffffff", "width": "0.3", "height": "0.3",
                "fixedsize": "true", "fontsize": "14", "margin": "0", "tooltip": tooltip}
    text = op_text(n)
    if n.op == "drop_path":
        rates = [m.attrs.get("p", 0.0) for m in peers]
        text += " " + ("–".join(f"{r:.3g}" for r in (min(rates), max(rates))) if len(set(rates)) > 1 else f"{rates[0]:.3g}")
        return {"label": text, "fontsize": "9", "height": "0.2", "fillcolor": _color(fam), "tooltip": tooltip}
    detail = fmt_shape_range([m.shape for m in peers])
    if params[-1]:
        detail += " · " + "–".join(dict.fromkeys(fmt_count(p) for p in (params[0], params[-1]))) + " params"
    label = f"<<b>{_esc(text)}</b><br/><font point-size=\"9\">{_esc(detail)}</font>>"
    return {"label": label, "fillcolor": _color(fam), "tooltip": tooltip}


def _emit(dot: graphviz.Digraph, c: _Cluster) -> None:
    for name, attrs in c.nodes:
        dot.node(name, **attrs)
    for child in c.children.values():
        with dot.subgraph(name=child.name) as sub:
            sub.attr(**child.attrs)
            _emit(sub, child)



def _title(lay: _Layout, families: set[str], shortcut_edges: bool) -> str:
    """Name and totals over a legend of the op families drawn (and the shortcut edge style)."""
    g = lay.g
    total_p = sum(p for p, _ in lay.cost.values())
    total_m = sum(m for _, m in lay.cost.values())
    name = g.name + (f" ({g.variant})" if g.variant else "")
    stats = f"{fmt_count(total_p)} params · {fmt_count(total_m)} MACs · input {fmt_shape(g.input_shape)}"
    order = [f for f in FAMILY_COLORS if f in families] + sorted(f for f in families if f not in FAMILY_COLORS)
    cells = [f'<td bgcolor="{_color(f)}" border="1" color="#777777" cellpadding="2">'
             f'<font point-size="9">{_esc(FAMILY_NAMES.get(f, f))}</font></td>' for f in order]
    if shortcut_edges:
        cells.append('<td border="0"><font point-size="9" color="#666666">- - -&gt; shortcut</font></td>')
    legend = '<table border="0" cellspacing="3" cellborder="0"><tr>' + "".join(cells) + "</tr></table>"
    return (f'<<table border="0" cellborder="0" cellspacing="0"><tr><td><b>{_esc(name)}</b></td></tr>'
            f'<tr><td><font point-size="10">{_esc(stats)}</font></td></tr><tr><td>{legend}</td></tr></table>>')


