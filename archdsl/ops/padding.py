"""Explicit padding: the `pad` layer, and TF-style "SAME" padding (`same=true` on convs and pools).

`pad(l, r, t, b)` pads (or, with negative values, crops) the left, right, top and bottom
edges: NASNet's factorized reduction shifts its second path by one pixel with
`pad(-1, 1, -1, 1)`. `same=true` pads so that the output is ceil(H / stride), split as
TensorFlow does (the extra pixel, if any, at the bottom/right). Where that split cannot
be fixed in advance (a stride above 1, or an even kernel) the padding is computed from
the input size at run time, as in timm's Conv2dSame / MaxPool2dSame / AvgPool2dSame (an
average pool then counts those padded zeros, as timm's does).
"""

from __future__ import annotations

import math


from archdsl.ops.code import call
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def same_total(size: int, k: int, s: int, d: int = 1) -> int:
    """Total padding of one dimension under TF "SAME"."""
    return max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)


def same_is_static(k: tuple[int, int], s: int, d: int = 1) -> bool:
    """Whether SAME padding is the same symmetric amount for every input size."""
    return s == 1 and all((d * (kk - 1)) % 2 == 0 for kk in k)


def _pad_module(attrs):
    pad = (attrs["l"], attrs["r"], attrs["t"], attrs["b"])
    if float(attrs["value"]) == 0.0:
        return call("nn.ZeroPad2d", pad)
    return call("nn.ConstantPad2d", pad, float(attrs["value"]))


def _pad_shape(attrs, ins):
    from archdsl.ops.conv import fmt_shape

    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}")
    c, h, w = ins[0]
    ho, wo = h + attrs["t"] + attrs["b"], w + attrs["l"] + attrs["r"]
    if ho < 1 or wo < 1:
        raise ShapeError(f"{attrs['_token']} crops a {h}x{w} input to nothing")
    return (c, ho, wo)


register(OpSpec(
    "pad", "structure", "Pad (or, with negative values, crop) the left, right, top and bottom edges: `pad(-1, 1, -1, 1)`.",
    args=(Arg("l", "int", 0, "left", positional=True), Arg("r", "int", 0, "right", positional=True),
          Arg("t", "int", 0, "top", positional=True), Arg("b", "int", 0, "bottom", positional=True),
          Arg("value", "float", 0.0, "fill value")),
    module_name="pad", example="pad(-1, 1, -1, 1)", shape=_pad_shape,
    module=lambda a, ins, out: _pad_module(a),
))
