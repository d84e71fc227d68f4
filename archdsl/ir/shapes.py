"""`infer_shapes`: the output shape of every op of the graph, from its registry entry.

Lowering asks for shapes as it builds (a block's `cin`, `proj=skip`), and the passes run it
once more over the whole graph; a rule's complaint becomes an ArchError at the op's token,
completed with where the offending input came from.
"""

from __future__ import annotations

from archdsl import ops
from archdsl.errors import ArchError
from archdsl.ir.graph import Graph, Node
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import ShapeError


def _origin(g: Graph, node_id: int, seen_from: Node | None = None) -> str:
    """Where a value came from: the token and position that made it, plus the instance
    (`stages.2.blocks.0`) when the reader is elsewhere, since one line makes many layers."""
    n = g.nodes[node_id]
    if n.op == "input":
        return f"the input ({fmt_shape(n.shape)})"
    what = {"add": "the sum", "cat": "the concatenation"}.get(n.op) if not n.token[:1].isalpha() else None
    where = f"{what or f'`{n.token}`'} at {n.span.line}:{n.span.column}"
    if seen_from is not None and n.scope and n.scope != seen_from.scope:
        where += f" in {'.'.join(map(str, n.scope))}"
    return where


def infer_shapes(g: Graph, only_missing: bool = False) -> Graph:
    """Shape every node; `only_missing` skips shaped nodes (lowering asks for shapes as it builds)."""
    for node in g:
        if only_missing and node.shape is not None:
            continue
        ins = [g.nodes[i].shape for i in node.inputs]
        spec = ops.get(node.op)
        try:
            shape = tuple(int(v) for v in spec.shape(node.attrs, ins))
            if any(v < 1 for v in shape):
                raise ShapeError(f"produces an empty tensor {fmt_shape(shape)}", "use a larger input or fewer downsampling steps")
        except ShapeError as e:
            raise ArchError(_merge_message(g, node, e), node.span, e.hint) from None
        if node.op == "layer_scale" and node.attrs.get("image") is None:
            node.attrs["image"] = len(shape) == 3
        node.shape = shape
    return g


def _merge_message(g: Graph, node: Node, e: ShapeError) -> str:
    if node.attrs.get("cls"):  # residual(cls=true): the rule's own message says what is wrong
        return e.message
    if node.op == "add" and node.attrs.get("residual"):
        branch, short = (g.nodes[i] for i in node.inputs)
        return (f"residual branch ends with {fmt_shape(branch.shape)} from {_origin(g, branch.id)}, "
                f"but the shortcut carries {fmt_shape(short.shape)} from {_origin(g, short.id)}; "
                f"with `proj=none` no projection is added")
    if node.op in ("add", "cat") and len(node.inputs) > 1:
        parts = [f"{fmt_shape(g.nodes[i].shape)} from {_origin(g, i)}" for i in node.inputs]
        verb = "add" if node.op == "add" else "concatenate"
        return f"cannot {verb} branches: " + ", ".join(parts)
    prev = g.nodes[node.inputs[0]] if node.inputs else None
    if prev is None:
        return e.message
    if prev.op != "input" and "got" in e.message:
        return f"{e.message} (from {_origin(g, prev.id, node)})"
    if e.input:  # name the other side: the shape this layer was given and who made it
        if prev.op == "input":
            return f"{e.message}; the network input is {fmt_shape(prev.shape)}"
        return f"{e.message}; the input {fmt_shape(prev.shape)} comes from {_origin(g, prev.id, node)}"
    return e.message
