"""Fully connected layers: `fc`, `mlp`, `dropout`."""

from __future__ import annotations

from archdsl.ops.activation import ACTIVATIONS, activation
from archdsl.ops.code import call
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _features(attrs, ins) -> int:
    shape = ins[0]
    if len(shape) == 3:
        raise ShapeError(f"{attrs['_token']} needs a vector or tokens, got an image {fmt_shape(shape)}",
                         "add `gap` (global average pool) or `flatten` before it")
    return shape[-1]


def _positions(shape) -> int:
    n = 1
    for v in shape[:-1]:
        n *= v
    return n


def _fc_shape(attrs, ins):
    if attrs["out"] == 0:  # no layer: the identity, as timm's num_classes=0 leaves a classifier
        return ins[0]
    _features(attrs, ins)
    if attrs["out"] is None or attrs["out"] < 1:
        raise ShapeError(f"{attrs['_token']} needs a positive output size (or 0: no layer), e.g. fc(1000)")
    return ins[0][:-1] + (attrs["out"],)


def _fc_module(attrs, ins, out):
    if attrs["out"] == 0:
        return call("nn.Identity")
    return call("nn.Linear", ins[0][-1], attrs["out"], bias=attrs["bias"], _defaults={"bias": True})


register(OpSpec(
    "fc", "linear", "Fully connected (linear) layer on the last dimension; `fc(0)` is no layer, the identity "
    "(a classifier of `classes=0`, timm's num_classes=0: the head returns its features).",
    args=(Arg("out", "int", None, "output features", positional=True), Arg("bias", "bool", True, "add a bias")),
    module_name="fc", example="fc(1000)", shape=_fc_shape,
    params=lambda a, ins, out: ins[0][-1] * a["out"] + (a["out"] if a["bias"] else 0),
    macs=lambda a, ins, out: _positions(ins[0]) * ins[0][-1] * a["out"],
    module=_fc_module,
))


def _mlp_dims(attrs, ins):
    shape = ins[0]
    c = shape[0] if len(shape) == 3 else shape[-1]
    ratio = attrs["ratio"]
    if attrs["hidden"] is not None:
        hidden = attrs["hidden"]
    elif float(ratio).is_integer():
        hidden = int(ratio) * c  # `4 * c`: the same number as below, written as people write it
    else:
        hidden = int(round(ratio * c))
    out = attrs["out"] if attrs["out"] is not None else c
    if hidden < 1 or out < 1:
        raise ShapeError(f"mlp sizes must be positive (hidden {hidden}, out {out})")
    return c, hidden, out


def _mlp_shape(attrs, ins):
    if attrs["act"] not in ACTIVATIONS:
        raise ShapeError(f"unknown activation `{attrs['act']}` for mlp", "one of " + ", ".join(sorted(ACTIVATIONS)))
    c, hidden, out = _mlp_dims(attrs, ins)
    shape = ins[0]
    return (out,) + shape[1:] if len(shape) == 3 else shape[:-1] + (out,)


def _mlp_positions(shape) -> int:
    return shape[1] * shape[2] if len(shape) == 3 else _positions(shape)


def _mlp_params(attrs, ins, out):
    c, h, o = _mlp_dims(attrs, ins)
    b = 1 if attrs["bias"] else 0
    return c * h + h * b + h * o + o * b


def _mlp_macs(attrs, ins, out):
    c, h, o = _mlp_dims(attrs, ins)
    return _mlp_positions(ins[0]) * (c * h + h * o)


register(OpSpec(
    "mlp", "linear", "Two-layer MLP (fc1 -> act -> fc2) per position, hidden = ratio x channels: `mlp4` is the inverted bottleneck.",
    args=(
        Arg("hidden", "int", None, "hidden width (overrides the ratio)"),
        Arg("out", "int", None, "output width (default: input width)"),
        Arg("act", "act", "gelu", "activation between the two layers"),
        Arg("bias", "bool", True, "biases in both layers"),
    ),
    size="ratio", size_required=True, size_type="float", module_name="mlp", example="mlp4",
    shape=_mlp_shape, params=_mlp_params, macs=_mlp_macs,
    module=lambda a, ins, out: call("Mlp", *_mlp_dims(a, ins), act=activation(a["act"]), bias=a["bias"], channels_first=len(ins[0]) == 3,
                                    _defaults={"bias": True, "channels_first": False}),
    channels_last=lambda a, ins, out: call("Mlp", *_mlp_dims(a, ins), act=activation(a["act"]), bias=a["bias"],
                                           _defaults={"bias": True}) if len(ins[0]) == 3 else None,
))


def _dropout_shape(attrs, ins):
    if not 0.0 <= attrs["p"] < 1.0:
        raise ShapeError(f"dropout probability must be in [0, 1), got {attrs['p']}")
    return ins[0]


register(OpSpec(
    "dropout", "regularization", "Dropout with probability p (identity in eval mode).",
    args=(Arg("p", "float", 0.5, "drop probability", positional=True),),
    module_name="dropout", example="dropout(0.2)", shape=_dropout_shape,
    module=lambda a, ins, out: call("nn.Dropout", p=float(a["p"]), _defaults={"p": 0.5}), layout_free=True,
))
