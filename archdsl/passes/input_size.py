"""Pass `check_input_size`: input sizes the network's non-overlapping downsampling can take.

A layer whose kernel equals its stride with no padding (ConvNeXt's `conv4/4` stem and
`conv2/2` downsampling, ViT's patch embedding, Swin's patch merging) silently drops the
rows and columns a stride does not cover. The rule is derived from the graph: the
product of those strides must divide H and W. A size that breaks it is refused up front,
naming the whole requirement and the first layer that would drop pixels.
"""

from __future__ import annotations

from archdsl.errors import ArchError
from archdsl.ir.graph import Graph, Node
from archdsl.ops.conv import auto_padding


def exact_stride(node: Node) -> int:
    """The stride of a non-overlapping downsampling layer (kernel == stride, no padding), else 1."""
    a = node.attrs
    if node.op in ("conv", "maxpool", "avgpool"):
        k = a.get("kernel")
        if not isinstance(k, int) or a.get("ceil") or a.get("same"):
            return 1  # ceil mode and TF "SAME" padding cover the last rows: nothing is dropped
        s = a.get("stride") or (k if node.op != "conv" else 1)
        p = a.get("p")
        if p is None:
            p = auto_padding(k, s, a.get("d", 1))[0]
        return s if (k == s and s > 1 and p in (0, (0, 0))) else 1
    if node.op == "patch_embed":
        return int(a.get("size") or 1)
    if node.op == "patch_merge":
        return 2
    return 1


def check_input_size(g: Graph) -> Graph:
    strided = [(n, exact_stride(n)) for n in g if exact_stride(n) > 1]
    total = 1
    for _, s in strided:
        total *= s
    for n, s in strided:
        shape = g.nodes[n.inputs[0]].shape
        if len(shape) != 3:
            continue
        _, h, w = shape
        if h % s or w % s:
            c, ih, iw = g.input_shape
            fit_h, fit_w = max(total, ih // total * total), max(total, iw // total * total)
            raise ArchError(
                f"input {c}x{ih}x{iw}: `{n.token}` at {n.span.line}:{n.span.column} gets {h}x{w}, which stride {s} does not divide; "
                f"this network's non-overlapping downsampling needs H and W divisible by {total}",
                n.span, f"use an input such as {c}x{fit_h}x{fit_w}")
    return g
