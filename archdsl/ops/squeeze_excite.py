"""Squeeze-and-excitation: `se0.25` (Hu et al., 2018; the MobileNetV3/EfficientNet/RegNet form).

    x * gate(fc2(act(fc1(mean_hw(x)))))     fc1, fc2: 1x1 convs with bias

The suffix is the reduction ratio; the squeeze width is `ratio * of` where `of` defaults to
the input channels (EfficientNet and RegNet measure it against the *block input*, so they
pass `of=cin`), floored (`round=true`: nearest) or made divisible by `div` (MobileNetV3:
`div=8`), at least 1. `rd=` gives the width outright. The activation and the gate are
arguments: `se0.25(act=relu, gate=hsigmoid)`.
"""

from __future__ import annotations


from archdsl.ops.activation import ACTIVATIONS, activation
from archdsl.ops.code import call
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def squeeze_width(attrs: dict, channels: int) -> int:
    if attrs["rd"] is not None:
        return attrs["rd"]
    ratio = attrs["ratio"] if attrs["ratio"] is not None else 0.25
    base = attrs["of"] if attrs["of"] is not None else channels
    v = ratio * base
    if attrs["div"] > 1:
        from archdsl.runtime.rounding import make_divisible

        return make_divisible(v, attrs["div"])
    return max(1, int(round(v)) if attrs["round"] else int(v))


def _se_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}")
    for k in ("act", "gate"):
        if attrs[k] not in ACTIVATIONS:
            raise ShapeError(f"unknown activation `{attrs[k]}` for `{k}`", "one of " + ", ".join(sorted(ACTIVATIONS)))
    for k in ("rd", "of"):
        if attrs[k] is not None and attrs[k] < 1:
            raise ShapeError(f"`{k}` must be positive, got {attrs[k]}")
    if attrs["div"] < 1:
        raise ShapeError(f"`div` must be positive, got {attrs['div']}")
    ratio = attrs.get("ratio")
    if ratio is not None and not 0 < ratio <= 1:
        raise ShapeError(f"se ratio {ratio:g} is outside (0, 1]",
                         "the ratio is squeezed/full channels: SENet's reduction 16 is `se(ratio=1/16)`")
    return ins[0]


def _se_params(attrs, ins, out) -> int:
    c = ins[0][0]
    r = squeeze_width(attrs, c)
    return 2 * c * r + ((r + c) if attrs["bias"] else 0)


register(OpSpec(
    "se", "attention", "Squeeze-and-excitation: per-channel gate from the global average (`se0.25`: squeeze to 1/4).",
    args=(
        Arg("ratio", "float", None, "squeeze width / `of` (the size suffix: `se0.25`; default 0.25)"),
        Arg("rd", "int", None, "squeeze width (overrides the ratio)"),
        Arg("of", "int", None, "channels the ratio applies to (default: the input channels)"),
        Arg("div", "int", 1, "round the squeeze width to a multiple of this (make-divisible rule)"),
        Arg("round", "bool", False, "round ratio * of to the nearest integer instead of down"),
        Arg("act", "act", "relu", "activation after the squeeze"),
        Arg("gate", "act", "sigmoid", "gate activation (sigmoid; hsigmoid in MobileNetV3)"),
        Arg("bias", "bool", True, "biases in the two 1x1 convs"),
    ),
    size="ratio", size_type="float", module_name="se", example="se0.25",
    shape=_se_shape, params=_se_params,
    macs=lambda a, ins, out: 2 * ins[0][0] * squeeze_width(a, ins[0][0]),
    module=lambda a, ins, out: call("SqueezeExcite", ins[0][0], squeeze=squeeze_width(a, ins[0][0]), act=activation(a["act"]),
                                    gate=activation(a["gate"]), bias=a["bias"], _defaults={"bias": True}),
))
