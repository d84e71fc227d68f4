"""Summary backend: parameter and MAC counts from the IR, without building torch modules.

`params` counts every parameter (`sum(p.numel())` of the built model); `macs` counts
multiply-accumulates of convolutions, linear layers and attention matmuls at batch 1,
the figure papers call FLOPs.

`summarize` returns a `Summary`: the dict `archdsl compile --json` prints (totals, shapes,
one row per section in `stages`), which also carries one row per layer in `.layers`
(module path, token, output shape, params, MACs: torchinfo's table, from the same
per-node costs, so the rows add up to the totals) and shows as a table in notebooks.
"""

from __future__ import annotations

import html
from typing import Any

from archdsl import ops
from archdsl.ir.graph import Graph, Node


def node_cost(g: Graph, node: Node) -> tuple[int, int]:
    spec = ops.get(node.op)
    ins = [g.nodes[i].shape for i in node.inputs]
    repeat = node.attrs.get("_shared", {}).get("first") is False  # a `shared` layer's weights count at its first use
    return 0 if repeat else int(spec.params(node.attrs, ins, node.shape)), int(spec.macs(node.attrs, ins, node.shape))


class Summary(dict):
    """The summary dict (every key `archdsl compile --json` prints), plus `layers`: one row per
    layer ({"module", "op", "token", "section", "output_shape", "params", "macs"}), and an
    HTML table for notebooks."""

    def __init__(self, data: dict[str, Any], layers: list[dict[str, Any]]):
        super().__init__(data)
        self.layers = layers

    def layer_table(self) -> str:
        """The per-layer table `archdsl compile --layers` prints."""
        return format_layers(self.layers)

    def __str__(self) -> str:
        return format_summary(self)

    def _repr_html_(self) -> str:
        return summary_html(self)


def layer_name(node: Node) -> str:
    """`stages.0.blocks.1.conv2`; an op with no module of its own (`+`) is named by its group."""
    path = ".".join(map(str, node.module_path)) or "net"
    return path if node.name else f"{path} ({node.token})"


def summarize(g: Graph) -> Summary:
    total_p = total_m = 0
    rows: dict[tuple, dict[str, Any]] = {}
    layers: list[dict[str, Any]] = []
    for node in g:
        if node.op == "input":
            continue
        p, m = node_cost(g, node)
        total_p += p
        total_m += m
        key = _section_key(node.scope)
        row = rows.setdefault(key, {"name": _section_name(key), "blocks": 0, "params": 0, "macs": 0, "output_shape": None})
        row["params"] += p
        row["macs"] += m
        row["output_shape"] = [1, *node.shape]
        layers.append({"module": layer_name(node), "op": node.op, "token": node.token, "section": row["name"],
                       "output_shape": [1, *node.shape], "params": p, "macs": m})
    for path, grp in g.groups.items():
        if grp.kind == "stage":
            rows[path]["blocks"] = grp.info.get("depth", 0)
    out = g.nodes[g.output_id].shape
    extra = {}
    if g.nodes[g.output_id].op == "outputs":  # `outputs:`: output_shape is the first of several
        extra["outputs"] = [[1, *g.nodes[i].shape] for i in g.nodes[g.output_id].inputs]
    return Summary({
        "name": g.name,
        "variant": g.variant,
        "params": total_p,
        "macs": total_m,
        "input_shape": [1, *g.input_shape],
        "output_shape": [1, *out],
        "nodes": sum(1 for n in g if n.op != "input"),
        "stages": list(rows.values()),
        "parameters": {k: _jsonable(v) for k, v in g.params.items()},
        **extra,
    }, layers)


def _section_key(scope: tuple) -> tuple:
    if scope and scope[0] == "stages":
        return scope[:2]
    return scope[:1]


def _section_name(key: tuple) -> str:
    if key and key[0] == "stages":
        return f"stage{key[1]}"
    return key[0] if key else "net"


def _jsonable(v: Any) -> Any:
    if isinstance(v, list):
        return [_jsonable(x) for x in v]
    if isinstance(v, (int, float, str, bool)) or v is None:
        return v
    return str(v)


def format_summary(s: dict[str, Any]) -> str:
    """The human-readable table `archdsl compile` prints."""
    title = s["name"] + (f" ({s['variant']})" if s["variant"] else "")
    lines = [title, ""]
    lines.append(f"{'section':<10} {'blocks':>6} {'output':>18} {'params':>14} {'MACs':>16}")
    for r in s["stages"]:
        shape = "x".join(str(v) for v in r["output_shape"][1:])
        blocks = str(r["blocks"]) if r["blocks"] else ""
        lines.append(f"{r['name']:<10} {blocks:>6} {shape:>18} {r['params']:>14,} {r['macs']:>16,}")
    lines.append("")
    lines.append(f"input   {'x'.join(map(str, s['input_shape']))}")
    outs = s.get("outputs") or [s["output_shape"]]
    lines.append(("output  " if len(outs) == 1 else "outputs ") + ", ".join("x".join(map(str, o)) for o in outs))
    lines.append(f"params  {s['params']:,} ({s['params'] / 1e6:.2f} M)")
    lines.append(f"MACs    {s['macs']:,} ({s['macs'] / 1e9:.2f} G)")
    lines.append(f"ops     {s['nodes']:,}")
    return "\n".join(lines)


def format_layers(layers: list[dict[str, Any]]) -> str:
    """One line per layer, like torchinfo: module, token, output shape, params, MACs."""
    head = ("layer", "token", "output", "params", "MACs")
    table = [head] + [(r["module"], r["token"], "x".join(map(str, r["output_shape"][1:])), f"{r['params']:,}", f"{r['macs']:,}")
                      for r in layers]
    table.append(("total", "", "", f"{sum(r['params'] for r in layers):,}", f"{sum(r['macs'] for r in layers):,}"))
    w = [max(len(t[k]) for t in table) for k in range(len(head))]
    lines = [f"{t[0]:<{w[0]}}  {t[1]:<{w[1]}}  {t[2]:>{w[2]}}  {t[3]:>{w[3]}}  {t[4]:>{w[4]}}".rstrip() for t in table]
    rule = "-" * (sum(w) + 8)
    return "\n".join([lines[0], rule, *lines[1:-1], rule, lines[-1]])


def summary_html(s: dict[str, Any], layers: list[dict[str, Any]] | None = None) -> str:
    """The summary as HTML (a notebook's display): totals, the section table and, folded,
    the per-layer table."""
    esc = html.escape
    layers = getattr(s, "layers", None) if layers is None else layers

    def table(head: tuple, rows: list[tuple], right: set[int]) -> str:
        th = "".join(f"<th style='text-align:{'right' if k in right else 'left'}'>{esc(h)}</th>" for k, h in enumerate(head))
        body = "".join("<tr>" + "".join(f"<td style='text-align:{'right' if k in right else 'left'}'>{esc(str(v))}</td>"
                                         for k, v in enumerate(r)) + "</tr>" for r in rows)
        return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"

    def shape(v: list) -> str:
        return "x".join(map(str, v[1:]))

    title = s["name"] + (f" ({s['variant']})" if s["variant"] else "")
    outs = s.get("outputs") or [s["output_shape"]]
    parts = [f"<div class='archdsl-summary'><b>{esc(title)}</b>",
             (f"<p>params {s['params']:,} ({s['params'] / 1e6:.2f} M) &middot; MACs {s['macs']:,} ({s['macs'] / 1e9:.2f} G) &middot; "
              f"input {esc('x'.join(map(str, s['input_shape'])))} &middot; output {esc(', '.join('x'.join(map(str, o)) for o in outs))}</p>"),
             table(("section", "blocks", "output", "params", "MACs"),
                   [(r["name"], r["blocks"] or "", shape(r["output_shape"]), f"{r['params']:,}", f"{r['macs']:,}") for r in s["stages"]],
                   {1, 2, 3, 4})]
    if layers:
        parts.append(f"<details><summary>{len(layers)} layers</summary>")
        parts.append(table(("layer", "token", "output", "params", "MACs"),
                           [(r["module"], r["token"], shape(r["output_shape"]), f"{r['params']:,}", f"{r['macs']:,}") for r in layers],
                           {2, 3, 4}))
        parts.append("</details>")
    parts.append("</div>")
    return "".join(parts)
