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

from archdsl.ops.code import call
from archdsl.ops.geometry import fmt_shape, same_is_static, same_total  # noqa: F401 - re-exported
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _pad_module(attrs):
    pad = (attrs["l"], attrs["r"], attrs["t"], attrs["b"])
    if float(attrs["value"]) == 0.0:
        return call("nn.ZeroPad2d", pad)
    return call("nn.ConstantPad2d", pad, float(attrs["value"]))


def _pad_shape(attrs, ins):
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
