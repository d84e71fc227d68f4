"""Layers of ViTDet (Li et al. 2022, "Exploring Plain Vision Transformer Backbones for Object
Detection"): a plain ViT with windowed attention and a simple feature pyramid.

    mhsa_rel(heads, window=14)   self-attention with decomposed relative positions (MViTv2), in
                                 non-overlapping windows (the grid padded to a multiple of the
                                 window); window=0: global, over the whole grid
    pos_resized(14)              learned absolute positions of a 14x14 pretraining grid (plus the
                                 class token's, unused), resized bicubically to the token grid
    deconv2/2(out)               transposed convolution (the pyramid's 2x upsampling)
"""

from __future__ import annotations

import math


from archdsl.ops.code import call, inputs, lit
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _grid(attrs, ins) -> tuple[int, int]:
    """(grid side, channels) of a square token grid L x C."""
    if len(ins[0]) != 2:
        raise ShapeError(f"{attrs['_token']} needs a token sequence L x C, got {fmt_shape(ins[0])}",
                         "turn the image into tokens first (`patch_embed` or `tokens`)")
    n, c = ins[0]
    side = math.isqrt(n)
    if side * side != n:
        raise ShapeError(f"{attrs['_token']}: {n} tokens do not form a square grid")
    return side, c


def _rel_geometry(attrs, ins) -> tuple[int, int, int, int, int]:
    """(side, channels, heads, head_dim, window) with window = side for global attention."""
    side, c = _grid(attrs, ins)
    heads, window = attrs["heads"], attrs["window"]
    if heads is None or heads < 1 or c % heads:
        raise ShapeError(f"{attrs['_token']}: {heads} heads do not divide {c} channels")
    if window is None or window < 0:
        raise ShapeError(f"{attrs['_token']}: window must be 0 (global) or positive, got {window}")
    return side, c, heads, c // heads, window or side


def _rel_params(attrs, ins, out):
    side, c, heads, hd, k = _rel_geometry(attrs, ins)
    return 2 * (2 * k - 1) * hd + 3 * c * c + (3 * c if attrs["qkv_bias"] else 0) + c * c + c


def _rel_macs(attrs, ins, out):
    side, c, heads, hd, k = _rel_geometry(attrs, ins)
    windows = math.ceil(side / k) ** 2
    return side * side * 4 * c * c + windows * 2 * (k * k) ** 2 * c  # projections; QK^T and AV per window


register(OpSpec(
    "mhsa_rel", "attention",
    "Self-attention with decomposed relative positions (ViTDet/SAM) in k x k windows (grid padded), or global with window=0.",
    args=(Arg("heads", "int", None, "number of heads", positional=True),
          Arg("window", "int", 14, "window side in tokens; 0: global attention"),
          Arg("qkv_bias", "bool", True, "biases on the q, k, v projections")),
    module_name="attn", example="mhsa_rel(12, window=14)",
    shape=lambda a, ins: (_rel_geometry(a, ins), ins[0])[1], params=_rel_params, macs=_rel_macs,
    module=lambda a, ins, out: call("RelPosAttention", ins[0][1], a["heads"], _rel_geometry(a, ins)[4], global_attn=a["window"] == 0,
                                    qkv_bias=a["qkv_bias"], _defaults={"global_attn": False, "qkv_bias": True}),
))


def _pos_resized_expr(attrs, ins, out):
    grid, side = attrs["grid"], math.isqrt(ins[0][0])
    table = "p[:, 1:]" if attrs["cls"] else "p"
    if side == grid:
        return f"x + {table}"
    return f"x + resize_positions({table}, {lit(grid)}, {lit(side)})"


def _pos_resized_shape(attrs, ins):
    _grid(attrs, ins)
    if attrs["grid"] is None or attrs["grid"] < 1:
        raise ShapeError(f"{attrs['_token']} needs the pretraining grid side, e.g. pos_resized(14)")
    return ins[0]


register(OpSpec(
    "pos_resized", "structure",
    "Add learned positions of a pretraining grid (ViTDet: 14x14 + class token), bicubically resized to the token grid.",
    args=(Arg("grid", "int", 14, "side of the pretraining grid", positional=True),
          Arg("cls", "bool", True, "the table also holds a (here unused) class-token position")),
    module_name="pos_embed", example="pos_resized(14)", shape=_pos_resized_shape,
    params=lambda a, ins, out: (a["grid"] ** 2 + (1 if a["cls"] else 0)) * ins[0][1],
    param=lambda a, ins, out: call("nn.Parameter", call("trunc_normal", 1, a["grid"] ** 2 + (1 if a["cls"] else 0), ins[0][1], std=0.02)),
    expr=_pos_resized_expr,
))


def _deconv_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image C x H x W, got {fmt_shape(ins[0])}", "`grid` turns tokens into an image")
    if attrs["out"] is None or attrs["out"] < 1:
        raise ShapeError(f"{attrs['_token']} needs a positive number of output channels, e.g. deconv2/2(256)")
    c, h, w = ins[0]
    k, s = attrs["kernel"], attrs["stride"] or 1
    return (attrs["out"], (h - 1) * s + k, (w - 1) * s + k)


register(OpSpec(
    "deconv", "conv", "Transposed convolution (no padding): H -> (H-1)*stride + k; `deconv2/2(c)` doubles the resolution.",
    args=(Arg("out", "int", None, "output channels", positional=True), Arg("bias", "bool", True, "add a bias")),
    size="kernel", size_required=True, strided=True, module_name="deconv", width_default="out", example="deconv2/2(256)",
    shape=_deconv_shape,
    params=lambda a, ins, out: ins[0][0] * a["out"] * a["kernel"] ** 2 + (a["out"] if a["bias"] else 0),
    macs=lambda a, ins, out: ins[0][1] * ins[0][2] * ins[0][0] * a["out"] * a["kernel"] ** 2,
    module=lambda a, ins, out: call("nn.ConvTranspose2d", ins[0][0], a["out"], a["kernel"], stride=a["stride"] or 1, bias=a["bias"],
                                    _defaults={"stride": 1, "bias": True}), overwritable=True,
))


register(OpSpec(
    "outputs", "structure", "Several outputs: the network returns the tuple of its inputs (`outputs:` branches).", user=False,
    shape=lambda a, ins: ins[0], expr=lambda a, ins, out: f"({', '.join(inputs(len(ins)))},)",
))
