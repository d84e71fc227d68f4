"""Summary backend: parameter and MAC counts from the IR, without building torch modules.

`params` counts every parameter (`sum(p.numel())` of the built model); `macs` counts
multiply-accumulates of convolutions, linear layers and attention matmuls at batch 1,
the figure papers call FLOPs.
"""

from __future__ import annotations

from typing import Any

from archdsl import ops
from archdsl.ir.graph import Graph, Node


def node_cost(g: Graph, node: Node) -> tuple[int, int]:
    spec = ops.get(node.op)
    ins = [g.nodes[i].shape for i in node.inputs]
    repeat = node.attrs.get("_shared", {}).get("first") is False  # a `shared` layer's weights count at its first use
    return 0 if repeat else int(spec.params(node.attrs, ins, node.shape)), int(spec.macs(node.attrs, ins, node.shape))


def summarize(g: Graph) -> dict[str, Any]:
    total_p = total_m = 0
    rows: dict[tuple, dict[str, Any]] = {}
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
    for path, grp in g.groups.items():
        if grp.kind == "stage":
            rows[path]["blocks"] = grp.info.get("depth", 0)
    out = g.nodes[g.output_id].shape
    extra = {}
    if g.nodes[g.output_id].op == "outputs":  # `outputs:`: output_shape is the first of several
        extra["outputs"] = [[1, *g.nodes[i].shape] for i in g.nodes[g.output_id].inputs]
    return {
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
    }


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
