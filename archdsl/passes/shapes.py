"""Shape passes: `infer_shapes`, `insert_projections`, and input-size checks.

`infer_shapes` walks the graph in execution order and asks each op's registry entry
for its output shape; a rule's complaint becomes an ArchError at the op's token.
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


def insert_projections(g: Graph) -> Graph:
    """Give residual shortcuts a 1x1 conv + bn wherever the branch changes the shape.

    The projection is strided like the branch (ResNet's "option B" shortcut).
    """
    for node in list(g):
        if node.op != "add" or not node.attrs.get("residual") or node.attrs.get("cls"):
            continue
        branch, short = (g.nodes[i] for i in node.inputs)
        if branch.shape == short.shape:
            continue
        if len(branch.shape) != 3 or len(short.shape) != 3:
            raise ArchError(f"residual branch changes {fmt_shape(short.shape)} into {fmt_shape(branch.shape)}; "
                            "only image shortcuts can be projected", node.span)
        c, h, w = short.shape
        co, ho, wo = branch.shape
        stride = projection_stride(h, w, ho, wo)
        if stride is None:
            raise ArchError(f"residual branch maps {fmt_shape(short.shape)} to {fmt_shape(branch.shape)}, "
                            "which no strided 1x1 projection can match", node.span,
                            "keep the branch's spatial size a whole division of its input")
        sub = ("shortcut",)
        conv_id = g.new_id()
        conv = Node(conv_id, "conv", {"kernel": 1, "stride": stride, "out": co, "g": 1, "p": 0, "d": 1, "bias": False,
                                      "_token": "`conv1`"}, [short.id], node.span, node.scope, f"conv1/{stride}({co})",
                    sub=sub, block_index=node.block_index)
        g.add(conv, before=node.id)
        bn = Node(conv_id + 1, "bn", {"eps": 1e-5, "momentum": 0.1, **_bn_defaults(g)}, [conv_id], node.span, node.scope, "bn",
                  sub=sub, block_index=node.block_index)
        g.add(bn, before=node.id)
        g.set_inputs(node, [branch.id, bn.id])
        node.attrs["projected"] = True
    return infer_shapes(g)


def projection_stride(h: int, w: int, ho: int, wo: int) -> int | None:
    """The stride s of a 1x1, padding-0 conv mapping HxW to HoxWo, or None if none does.

    Such a conv maps H to floor((H - 1) / s) + 1 = ceil(H / s) (ResNet-50 at 100x100:
    25 -> 13 with s = 2); the smallest s giving Ho is ceil(H / Ho).
    """
    for s in dict.fromkeys((-(-h // ho), -(-w // wo))) if ho > 0 and wo > 0 else ():
        if s >= 1 and -(-h // s) == ho and -(-w // s) == wo:
            return s
    return None


def _bn_defaults(g: Graph) -> dict:
    # a `default bn(...)` in the file applies to projections too
    for n in g:
        if n.op == "bn":
            return {"eps": n.attrs["eps"], "momentum": n.attrs["momentum"]}
    return {}
