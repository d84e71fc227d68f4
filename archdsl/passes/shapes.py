"""Shape passes: `infer_shapes` (archdsl/ir/shapes.py, which lowering also uses) and
`insert_projections`, the 1x1 conv + bn on residual shortcuts that change shape."""

from __future__ import annotations

from archdsl.errors import ArchError
from archdsl.ir.graph import Graph, Node
from archdsl.ir.shapes import infer_shapes
from archdsl.ops.conv import fmt_shape


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
                                      "_token": "`conv1`", "_projection": True}, [short.id], node.span, node.scope, f"conv1/{stride}({co})",
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
