"""Squeeze-and-excitation (`se`): channel attention from globally pooled features.

`se0.25` squeezes C channels to C*0.25 (or `rd=` exactly), with its own activation
between the two 1x1 convs and its own gate: ReLU + sigmoid in SENet, SiLU + sigmoid
in EfficientNet, ReLU + hard-sigmoid in MobileNetV3. Module layout (`fc1`, `fc2`)
matches timm's SEModule and torchvision's SqueezeExcitation.
"""

from __future__ import annotations

import torch
from torch import nn

from archdsl.ir.values import make_divisible
from archdsl.ops.activation import ACTIVATIONS, make_activation
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


class SqueezeExcite(nn.Module):
    """x * gate(fc2(act(fc1(mean_hw(x)))))."""

    def __init__(self, channels: int, reduced: int, act: str = "relu", gate: str = "sigmoid", bias: bool = True):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, reduced, 1, bias=bias)
        self.act = make_activation(act, inplace=True)
        self.fc2 = nn.Conv2d(reduced, channels, 1, bias=bias)
        self.gate = make_activation(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


def reduced_channels(attrs: dict, ins) -> int:
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}",
                         "squeeze-excite reweights the channels of a feature map")
    c = ins[0][0]
    for k in ("act", "gate"):
        if attrs[k] not in ACTIVATIONS:
            raise ShapeError(f"unknown activation `{attrs[k]}` for se {k}", "one of " + ", ".join(ACTIVATIONS))
    if attrs.get("rd") is not None:
        rd = attrs["rd"]
    else:
        ratio = attrs.get("ratio")
        if ratio is None:
            raise ShapeError(f"{attrs['_token']} needs a reduction: a ratio like `se0.25` or `se(rd=16)`")
        if not 0 < ratio <= 1:
            raise ShapeError(f"se ratio {ratio:g} is outside (0, 1]",
                             "the ratio is squeezed/full channels: SENet's reduction 16 is `se(ratio=1/16)`")
        if attrs["divisor"] < 1:
            raise ShapeError(f"se divisor must be positive, got {attrs['divisor']}")
        rd = make_divisible(c * ratio, attrs["divisor"], min_value=1)
    if rd < 1:
        raise ShapeError(f"se squeezes {c} channels to {rd}", "use a larger ratio or `rd=`")
    return rd


def _se_params(attrs, ins, out) -> int:
    c, rd = ins[0][0], reduced_channels(attrs, ins)
    return 2 * c * rd + ((rd + c) if attrs["bias"] else 0)


def _se_shape(attrs, ins):
    reduced_channels(attrs, ins)
    return ins[0]


register(OpSpec(
    "se", "attention", "Squeeze-and-excitation: reweight channels by a gated 2-layer bottleneck on their global mean.",
    args=(
        Arg("ratio", "float", None, "squeezed / input channels (the size suffix: `se0.25`)"),
        Arg("rd", "int", None, "squeezed channels, exactly (overrides the ratio)"),
        Arg("divisor", "int", 1, "round the squeezed channels to a multiple of this (make_div rule)"),
        Arg("act", "act", "relu", "activation between the two 1x1 convs"),
        Arg("gate", "act", "sigmoid", "gate on the excitation"),
        Arg("bias", "bool", True, "biases in the 1x1 convs"),
    ),
    size="ratio", size_type="float", module_name="se", example="se0.25",
    shape=_se_shape, params=_se_params,
    macs=lambda a, ins, out: 2 * ins[0][0] * reduced_channels(a, ins),
    build=lambda a, ins, out: SqueezeExcite(ins[0][0], reduced_channels(a, ins), a["act"], a["gate"], a["bias"]),
))
