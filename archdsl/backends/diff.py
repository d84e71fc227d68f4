"""Diff backend: what changed between two architectures, section by section.

`diff(a, b)` compiles both sides (files, source text or parsed programs, each with its own
variant) and compares the stem, every stage (by index) and the head: the body tokens (the
IR nodes' `.token`, with widths resolved, of the stage's last block, plus the `down` tokens
run before it), the width (output channels), the depth, params, MACs and the output shape.
The result is one JSON-able dict; `format_diff` prints it as a table (`archdsl diff`).
"""

from __future__ import annotations

import os
from typing import Any

from archdsl.backends.summary import _jsonable, node_cost
from archdsl.ir.graph import Graph
from archdsl.syntax import ast

FIELDS = ("tokens", "down", "width", "depth", "params", "macs", "output_shape")


def _section_of(scope: tuple) -> str:
    if scope and scope[0] == "stages":
        return f"stage{scope[1]}"
    return str(scope[0]) if scope else "net"


def sections(g: Graph) -> dict[str, dict[str, Any]]:
    """name -> {tokens, down, width, depth, params, macs, output_shape}, in execution order."""
    out: dict[str, dict[str, Any]] = {}
    last_block: dict[str, tuple] = {}
    for node in g:
        if node.op == "input":
            continue
        name = _section_of(node.scope)
        row = out.setdefault(name, {"tokens": [], "down": [], "width": None, "depth": None, "params": 0, "macs": 0,
                                    "output_shape": None, "_blocks": {}, "_keys": {"tokens": [], "down": [], "_blocks": {}}})
        p, m = node_cost(g, node)
        token = _token(node)
        key = _key(node)
        row["params"] += p
        row["macs"] += m
        row["output_shape"] = list(node.shape)
        row["width"] = node.shape[0] if len(node.shape) != 2 else node.shape[-1]
        if name.startswith("stage"):
            if len(node.scope) > 2 and node.scope[2] == "down":
                row["down"].append(token)
                row["_keys"]["down"].append(key)
            elif len(node.scope) > 3 and node.scope[2] == "blocks":
                row["_blocks"].setdefault(node.scope[3], []).append(token)
                row["_keys"]["_blocks"].setdefault(node.scope[3], []).append(key)
                last_block[name] = node.scope[:4]
            else:
                row["tokens"].append(token)
                row["_keys"]["tokens"].append(key)
        else:
            row["tokens"].append(token)
            row["_keys"]["tokens"].append(key)
    for path, grp in g.groups.items():
        if grp.kind == "stage":
            out[_section_of(path)]["depth"] = grp.info.get("depth", 0)
    for name, row in out.items():
        blocks, keys = row.pop("_blocks"), row.pop("_keys")
        if blocks:  # the last block stands for the stage: no stride, no shortcut projection
            row["tokens"] = blocks[max(blocks)] + row["tokens"]
            keys["tokens"] = keys["_blocks"][max(blocks)] + keys["tokens"]
        row["_same"] = (tuple(keys["tokens"]), tuple(keys["down"]))
    return out


def _key(node) -> tuple:
    """What a layer is, however it was spelled: `dw7` and `dw7/1` (stride 1 either way), `conv3(64)`
    and `conv3(c)` with c = 64 are the same layer. The op, its resolved attributes (the
    spelling `_token` and other private ones left out) and its output shape."""
    if node.op == "drop_path":
        return ("drop_path",)
    attrs = tuple(sorted((k, repr(v)) for k, v in node.attrs.items() if not k.startswith("_")))
    return node.op, attrs, tuple(node.shape or ())


def _token(node) -> str:
    # a stochastic-depth rate differs from block to block and is a training setting (the
    # `drop_path` parameter shows in the parameter changes): the body shows only where it is
    return "drop_path" if node.op == "drop_path" else node.token


def _same(a: dict, b: dict, field: str) -> bool:
    if field in ("tokens", "down"):  # layers compared by what they are, not how they are written
        return a["_same"][field == "down"] == b["_same"][field == "down"]
    return a[field] == b[field]


def _side(g: Graph, source: str) -> dict[str, Any]:
    total_p = sum(r["params"] for r in sections(g).values())
    total_m = sum(r["macs"] for r in sections(g).values())
    return {"file": source, "name": g.name, "variant": g.variant, "params": total_p, "macs": total_m,
            "input_shape": list(g.input_shape), "output_shape": list(g.nodes[g.output_id].shape)}


def diff_graphs(ga: Graph, gb: Graph, source_a: str = "A", source_b: str = "B") -> dict[str, Any]:
    sa, sb = sections(ga), sections(gb)
    names = list(sa) + [n for n in sb if n not in sa]
    names.sort(key=lambda n: (0, 0) if n == "stem" else (2, 0) if n == "head" else
               (1, int(n[5:])) if n.startswith("stage") else (1, -1))
    rows = []
    for n in names:
        a, b = sa.get(n), sb.get(n)
        changed = list(FIELDS) if a is None or b is None else [f for f in FIELDS if not _same(a, b, f)]
        for side in (a, b):
            if side is not None:
                side.pop("_same", None)
        rows.append({"name": n, "a": a, "b": b, "changed": changed,
                     "params_delta": (b or {}).get("params", 0) - (a or {}).get("params", 0),
                     "macs_delta": (b or {}).get("macs", 0) - (a or {}).get("macs", 0)})
    params = {k: [_jsonable(ga.params.get(k)), _jsonable(gb.params.get(k))]
              for k in list(ga.params) + [k for k in gb.params if k not in ga.params]
              if _jsonable(ga.params.get(k)) != _jsonable(gb.params.get(k))}
    side_a, side_b = _side(ga, source_a), _side(gb, source_b)
    return {
        "a": side_a,
        "b": side_b,
        "params_delta": side_b["params"] - side_a["params"],
        "macs_delta": side_b["macs"] - side_a["macs"],
        "parameters": params,
        "sections": rows,
        "changed": bool(params) or any(r["changed"] for r in rows) or side_a["input_shape"] != side_b["input_shape"],
    }


def source_name(x: Any) -> str:
    if isinstance(x, ast.Program):
        return "<program>"
    if isinstance(x, os.PathLike) or ("\n" not in str(x) and str(x).endswith(".arch")):
        return str(x)
    return "<string>"


def fmt_count(n: int) -> str:
    if n < 1000:
        return str(n)
    if n < 1_000_000:
        return f"{n / 1e3:.1f}K"
    if n < 1_000_000_000:
        return f"{n / 1e6:.2f}M"
    return f"{n / 1e9:.2f}G"


def _signed(v: int) -> str:
    return "=" if v == 0 else ("+" if v > 0 else "-") + fmt_count(abs(v))


def _shape(s: list | None) -> str:
    return "x".join(map(str, s)) if s else "-"


def _cell(row: dict, field: str, fmt=str) -> str:
    a, b = row["a"], row["b"]
    va = "-" if a is None or a[field] is None else fmt(a[field])
    vb = "-" if b is None or b[field] is None else fmt(b[field])
    return va if va == vb else f"{va} -> {vb}"


def format_diff(d: dict[str, Any]) -> str:
    """The human-readable table `archdsl diff` prints."""
    def title(s):
        return f"{s['file']} ({s['name']}" + (f", {s['variant']})" if s["variant"] else ")")

    lines = [f"A: {title(d['a'])}", f"B: {title(d['b'])}", ""]
    if not d["changed"]:
        lines.append(f"no changes ({d['a']['params']:,} params, {d['a']['macs']:,} MACs)")
        return "\n".join(lines)
    head = ("section", "depth", "width", "output", "params", "MACs", "changed")
    table = [head]
    for r in d["sections"]:
        table.append((r["name"], _cell(r, "depth"), _cell(r, "width"), _cell(r, "output_shape", _shape),
                      _cell(r, "params", fmt_count) + f" ({_signed(r['params_delta'])})",
                      _cell(r, "macs", fmt_count) + f" ({_signed(r['macs_delta'])})",
                      ", ".join(r["changed"]) or "-"))
    widths = [max(len(t[k]) for t in table) for k in range(len(head))]
    for t in table:
        lines.append("  ".join(f"{v:<{w}}" for v, w in zip(t, widths)).rstrip())
    bodies = [r for r in d["sections"] if {"tokens", "down"} & set(r["changed"])]
    for r in bodies:
        lines.append("")
        lines.append(f"{r['name']}:")
        for key, label in (("down", "down"), ("tokens", "body")):
            a = (r["a"] or {}).get(key) or []
            b = (r["b"] or {}).get(key) or []
            if a != b:
                lines.append(f"  - {label}: {' '.join(a) if a else '(none)'}")
                lines.append(f"  + {label}: {' '.join(b) if b else '(none)'}")
    if d["parameters"]:
        lines.append("")
        lines.append("parameters:")
        for k, (a, b) in d["parameters"].items():
            lines.append(f"  {k}: {'-' if a is None else a} -> {'-' if b is None else b}")
    pa, pb, ma, mb = d["a"]["params"], d["b"]["params"], d["a"]["macs"], d["b"]["macs"]
    lines.append("")
    lines.append(f"params  {pa:,} -> {pb:,} ({d['params_delta']:+,})")
    lines.append(f"MACs    {ma:,} -> {mb:,} ({d['macs_delta']:+,})")
    if d["a"]["output_shape"] != d["b"]["output_shape"]:
        lines.append(f"output  {_shape(d['a']['output_shape'])} -> {_shape(d['b']['output_shape'])}")
    return "\n".join(lines)
