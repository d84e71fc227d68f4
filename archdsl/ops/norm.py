"""Normalization layers: `bn`, `ln`, `gn`."""

from __future__ import annotations

from archdsl.ops.code import call
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _channels(ins) -> int:
    shape = ins[0]
    return shape[0] if len(shape) in (1, 3) else shape[-1]


def _bn_shape(attrs, ins):
    if len(ins[0]) not in (1, 3):
        raise ShapeError("`bn` normalizes images (C x H x W) or vectors (C)", input=True)
    return ins[0]


def _bn_module(attrs, ins, out):
    cls = "nn.BatchNorm2d" if len(ins[0]) == 3 else "nn.BatchNorm1d"
    return call(cls, ins[0][0], eps=attrs["eps"], momentum=attrs["momentum"], _defaults={"eps": 1e-5, "momentum": 0.1})


register(OpSpec(
    "bn", "norm", "Batch normalization over channels (BatchNorm2d on images, BatchNorm1d on vectors).",
    args=(Arg("eps", "float", 1e-5, "epsilon"), Arg("momentum", "float", 0.1, "running-stat momentum")),
    module_name="bn", example="bn",
    shape=_bn_shape, params=lambda a, ins, out: 2 * ins[0][0], module=_bn_module, overwritable=True, absorbs_bias=True,
))


def _ln_module(attrs, ins, out):
    if len(ins[0]) == 3:
        return call("LayerNorm2d", ins[0][0], eps=attrs["eps"], _defaults={"eps": 1e-5})
    return call("nn.LayerNorm", ins[0][-1], eps=attrs["eps"], _defaults={"eps": 1e-5})


register(OpSpec(
    "ln", "norm", "Layer normalization over channels: per position on images, per token on sequences.",
    args=(Arg("eps", "float", 1e-5, "epsilon"),),
    module_name="norm", example="ln",
    params=lambda a, ins, out: 2 * _channels(ins), module=_ln_module, overwritable=True,
    channels_last=lambda a, ins, out: call("nn.LayerNorm", ins[0][0], eps=a["eps"], _defaults={"eps": 1e-5}) if len(ins[0]) == 3 else None,
))


def _gn_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError("`gn` normalizes images (C x H x W)")
    if ins[0][0] % attrs["groups"]:
        raise ShapeError(f"gn groups ({attrs['groups']}) must divide the channels ({ins[0][0]})", input=True)
    return ins[0]


register(OpSpec(
    "gn", "norm", "Group normalization with `groups` groups.",
    args=(Arg("groups", "int", 32, "number of groups", positional=True), Arg("eps", "float", 1e-5, "epsilon")),
    module_name="norm", example="gn(32)",
    shape=_gn_shape, params=lambda a, ins, out: 2 * ins[0][0],
    module=lambda a, ins, out: call("nn.GroupNorm", a["groups"], ins[0][0], eps=a["eps"], _defaults={"eps": 1e-5}), overwritable=True,
))
