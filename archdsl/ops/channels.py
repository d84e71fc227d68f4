"""Channel split and channel shuffle (ShuffleNet): `split:` branches and `shuffle{groups}`."""

from __future__ import annotations

from archdsl.ops.code import lit
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import OpSpec, ShapeError, register


def _channels(ins) -> int:
    return ins[0][0] if len(ins[0]) == 3 else ins[0][-1]


def _shuffle_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}")
    g = attrs["groups"]
    if ins[0][0] % g:
        raise ShapeError(f"{attrs['_token']}: {ins[0][0]} channels do not split into {g} groups", input=True)
    return ins[0]




register(OpSpec(
    "shuffle", "structure",
    "Channel shuffle: view the channels as groups x (C/groups), transpose, flatten (ShuffleNet), so that "
    "the next layer mixes the groups.",
    size="groups", size_required=True, example="shuffle2", shape=_shuffle_shape,
    expr=lambda a, ins, out: f"channel_shuffle(x, {lit(a['groups'])})",
))


def _slice_shape(attrs, ins):
    c, k, n = _channels(ins), attrs["index"], attrs["parts"]
    if c % n:
        raise ShapeError(f"`split:` cannot divide {c} channels into {n} equal parts",
                         f"give it a multiple of {n} channels", input=True)
    part = c // n
    return (part,) + ins[0][1:] if len(ins[0]) == 3 else ins[0][:-1] + (part,)


def _slice_expr(attrs, ins, out):
    start, part = attrs["index"] * out[0], out[0]
    if len(out) == 3:  # images: channels are dim 1 of the batched tensor; tokens: the last dim
        return f"x[:, {lit(start)}:{lit(start + part)}]"
    start, part = attrs["index"] * out[-1], out[-1]
    return f"x[..., {lit(start)}:{lit(start + part)}]"


register(OpSpec(
    "channel_slice", "structure", "One of `parts` equal channel slices (the input of a `split:` branch).",
    user=False, shape=_slice_shape, expr=_slice_expr,
))
