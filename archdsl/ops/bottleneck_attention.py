"""Bottleneck attention (BoTNet): `bot_attn(heads)`, `bot_attn/2(heads)`.

Global multi-head self-attention over all H x W positions of an image with 2-D relative
position logits: the logit of query (y, x) for key (y', x') adds q . h[y' - y] + q . w[x' - x]
(learned tables of 2H-1 and 2W-1 vectors, unscaled, as in timm's `BottleneckAttn`). The
projection is one bias-free 1x1 conv to q, k, v; a stride of 2 average-pools the output
(BoTNet's replacement for the strided 3x3 conv). The tables depend on H and W, so the
module is built for one input size.
"""

from __future__ import annotations


from archdsl.runtime.rounding import make_divisible
from archdsl.ops.code import call
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _geometry(attrs, ins) -> tuple[int, int, int, int]:
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image C x H x W, got {fmt_shape(ins[0])}")
    c, h, w = ins[0]
    heads, stride = attrs["heads"], attrs.get("stride") or 1
    if heads < 1 or c % heads:
        raise ShapeError(f"{heads} heads do not divide the width {c}", "choose heads so that width / heads is a whole head size", input=True)
    if stride not in (1, 2):
        raise ShapeError(f"`bot_attn` strides with a 2x2 average pool: stride must be 1 or 2, not {stride}")
    if stride == 2 and (h % 2 or w % 2):
        raise ShapeError(f"stride 2 needs an even H and W, got {h}x{w}")
    dim_head = attrs["dim_head"] or make_divisible(c * attrs["qk_ratio"], 8) // heads
    return c, h, w, dim_head


def _shape(attrs, ins):
    c, h, w, _ = _geometry(attrs, ins)
    s = attrs.get("stride") or 1
    return (c, h // s, w // s)


def _params(attrs, ins, out) -> int:
    c, h, w, d = _geometry(attrs, ins)
    qkv_out = 2 * attrs["heads"] * d + c
    return c * qkv_out + (qkv_out if attrs["qkv_bias"] else 0) + (2 * h - 1 + 2 * w - 1) * d


def _macs(attrs, ins, out) -> int:
    c, h, w, d = _geometry(attrs, ins)
    n, heads = h * w, attrs["heads"]
    qkv = n * c * (2 * heads * d + c)
    rel = n * heads * d * (2 * h - 1 + 2 * w - 1)
    return qkv + rel + n * n * heads * d + n * n * c  # q @ k, then attn @ v


register(OpSpec(
    "bot_attn", "attention",
    "BoTNet multi-head self-attention over all positions with 2-D relative position logits; `/2` average-pools after.",
    args=(
        Arg("heads", "int", 4, "number of attention heads (must divide the width)", positional=True),
        Arg("dim_head", "int", None, "query/key size per head (default: round8(width * qk_ratio) / heads)"),
        Arg("qk_ratio", "float", 1.0, "query/key width relative to the value width"),
        Arg("qkv_bias", "bool", False, "bias on the q/k/v projection"),
    ),
    strided=True, module_name="self_attn", example="bot_attn(4)",
    shape=_shape, params=_params, macs=_macs,
    module=lambda a, ins, out: call("BottleneckAttention", ins[0][0], heads=a["heads"], dim_head=_geometry(a, ins)[3], height=ins[0][1],
                                    width=ins[0][2], stride=a.get("stride") or 1, qkv_bias=a["qkv_bias"],
                                    _defaults={"stride": 1, "qkv_bias": False}),
))
