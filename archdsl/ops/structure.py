"""Structural ops the compiler creates: graph input, merges, layer scale, drop path."""

from __future__ import annotations

import operator
from functools import reduce

import torch
from torch import nn

from archdsl.ops.conv import fmt_shape
from archdsl.ops.modules import DropPath
from archdsl.ops.registry import OpSpec, ShapeError, register

register(OpSpec("input", "structure", "The network input.", user=False, shape=lambda a, ins: tuple(a["shape"])))

register(OpSpec(
    "identity", "structure", "Pass the input through unchanged (an empty branch).",
    example="identity", forward=lambda a: (lambda x: x),
))


def _add_shape(attrs, ins):
    if attrs.get("cls"):
        return _add_to_cls_shape(ins)
    first = ins[0]
    for k, s in enumerate(ins[1:], 1):
        if s != first:
            if attrs.get("residual") and attrs.get("proj") in ("auto", "conv"):
                continue  # `insert_projections` adds a projection on the shortcut
            raise ShapeError(f"cannot add {fmt_shape(first)} and {fmt_shape(s)}")
    return first


def _add_to_cls_shape(ins):
    branch, seq = ins
    if len(seq) != 2 or branch not in ((seq[1],), (1, seq[1])):
        raise ShapeError(f"`residual(cls=true)` adds a single token (C or 1 x C) to the class token of a sequence L x C, "
                         f"got {fmt_shape(branch)} and {fmt_shape(seq)}", "end the branch with `ca(...)`, or start it with `cls`")
    return seq


def add_all(*xs):
    """The sum of several branches (a named function, so that model transforms such as
    `reparameterize` can recognise a branch sum among a group's steps)."""
    return reduce(operator.add, xs)


def _add_forward(attrs):
    if attrs.get("cls"):
        return lambda y, x: torch.cat((x[:, :1] + y.reshape(x.shape[0], 1, -1), x[:, 1:]), dim=1)
    if attrs.get("n", 2) == 2:
        return operator.add
    return add_all


register(OpSpec(
    "add", "structure", "Element-wise sum of branches (residual connections, `add:`).",
    user=False, shape=_add_shape, forward=_add_forward,
))


def _cat_shape(attrs, ins):
    rest = ins[0][1:] if len(ins[0]) == 3 else ins[0][:-1]
    total = 0
    for s in ins:
        if len(s) != len(ins[0]):
            raise ShapeError(f"cannot concatenate {fmt_shape(ins[0])} and {fmt_shape(s)}")
        other = s[1:] if len(s) == 3 else s[:-1]
        if other != rest:
            raise ShapeError(f"cannot concatenate {fmt_shape(ins[0])} and {fmt_shape(s)}: sizes differ outside the channels")
        total += s[0] if len(s) == 3 else s[-1]
    return (total,) + rest if len(ins[0]) == 3 else rest + (total,)


register(OpSpec(
    "cat", "structure", "Concatenate branches along channels (`cat:`, `dense:`).",
    user=False, shape=_cat_shape,
    forward=lambda a: (lambda *xs: torch.cat(xs, dim=a["dim"])),
))


def _scale_forward(attrs):
    if attrs["image"]:
        fn = lambda gamma, x: x * gamma.reshape(1, -1, 1, 1)  # noqa: E731
    else:
        fn = lambda gamma, x: x * gamma  # noqa: E731
    fn.layer_scale_image = bool(attrs["image"])  # read by the `fold_layer_scale` inference pass
    return fn


def _scale_channels(ins) -> int:
    return ins[0][0] if len(ins[0]) == 3 else ins[0][-1]


register(OpSpec(
    "layer_scale", "regularization", "Per-channel learned scale of a residual branch (CaiT/ConvNeXt layer scale).",
    user=False, module_name="gamma",
    params=lambda a, ins, out: _scale_channels(ins),
    build=lambda a, ins, out: nn.Parameter(torch.full((_scale_channels(ins),), float(a["init"]))),
    forward=_scale_forward,
))

register(OpSpec(
    "drop_path", "regularization", "Stochastic depth on a residual branch (rate rises linearly over blocks).",
    user=False, module_name="drop_path",
    build=lambda a, ins, out: DropPath(a["p"]),
))


def check_shape(shape) -> None:
    if any(v < 1 for v in shape):
        raise ShapeError(f"empty tensor shape {fmt_shape(shape)}")
