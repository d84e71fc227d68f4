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

import torch
import torch.nn.functional as F
from torch import nn

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


class RelPosAttention(nn.Module):
    """Multi-head attention over k x k windows (padded) with a decomposed relative position bias:
    q . R_h[dy] + q . R_w[dx] added to the scaled scores (one table per axis, 2k-1 offsets)."""

    def __init__(self, dim: int, heads: int, window: int, global_attn: bool, qkv_bias: bool = True):
        super().__init__()
        self.heads, self.window, self.global_attn = heads, window, global_attn
        self.rel_pos_h = nn.Parameter(torch.zeros(2 * window - 1, dim // heads))
        self.rel_pos_w = nn.Parameter(torch.zeros(2 * window - 1, dim // heads))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        idx = torch.arange(window)[:, None] - torch.arange(window)[None, :] + window - 1
        self.register_buffer("index", idx, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        side, k = math.isqrt(n), self.window
        x = x.view(b, side, side, c)
        pad = 0 if self.global_attn else (k - side % k) % k
        if pad:
            x = F.pad(x, (0, 0, 0, pad, 0, pad))
        p = side + pad  # windows of k x k tokens: (b * windows, k*k, c)
        x = x.view(b, p // k, k, p // k, k, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, k * k, c)
        w = x.shape[0]
        q, kk, v = self.qkv(x).view(w, k * k, 3, self.heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        r_q = q.reshape(w, self.heads, k, k, -1)
        rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, self.rel_pos_h[self.index])
        rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, self.rel_pos_w[self.index])
        bias = (rel_h[..., :, None] + rel_w[..., None, :]).reshape(w, self.heads, k * k, k * k)
        x = F.scaled_dot_product_attention(q, kk, v, attn_mask=bias)
        x = self.proj(x.transpose(1, 2).reshape(w, k * k, c))
        x = x.view(b, p // k, p // k, k, k, c).permute(0, 1, 3, 2, 4, 5).reshape(b, p, p, c)
        return x[:, :side, :side].reshape(b, n, c)


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
    build=lambda a, ins, out: RelPosAttention(ins[0][1], a["heads"], _rel_geometry(a, ins)[4], a["window"] == 0, a["qkv_bias"]),
))


def _pos_resized_forward(attrs):
    grid, skip = attrs["grid"], 1 if attrs["cls"] else 0

    def fn(pos: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        side = math.isqrt(n)
        table = pos[:, skip:]
        if side != grid:
            table = table.reshape(1, grid, grid, c).permute(0, 3, 1, 2)
            table = F.interpolate(table, size=(side, side), mode="bicubic", align_corners=False)
            table = table.permute(0, 2, 3, 1).reshape(1, n, c)
        return x + table

    return fn


def _pos_resized_shape(attrs, ins):
    _grid(attrs, ins)
    if attrs["grid"] is None or attrs["grid"] < 1:
        raise ShapeError(f"{attrs['_token']} needs the pretraining grid side, e.g. pos_resized(14)")
    return ins[0]


def _pos_resized_build(attrs, ins, out):
    p = nn.Parameter(torch.zeros(1, attrs["grid"] ** 2 + (1 if attrs["cls"] else 0), ins[0][1]))
    nn.init.trunc_normal_(p, std=0.02)
    return p


register(OpSpec(
    "pos_resized", "structure",
    "Add learned positions of a pretraining grid (ViTDet: 14x14 + class token), bicubically resized to the token grid.",
    args=(Arg("grid", "int", 14, "side of the pretraining grid", positional=True),
          Arg("cls", "bool", True, "the table also holds a (here unused) class-token position")),
    module_name="pos_embed", example="pos_resized(14)", shape=_pos_resized_shape,
    params=lambda a, ins, out: (a["grid"] ** 2 + (1 if a["cls"] else 0)) * ins[0][1],
    build=_pos_resized_build, forward=_pos_resized_forward,
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
    build=lambda a, ins, out: nn.ConvTranspose2d(ins[0][0], a["out"], a["kernel"], stride=a["stride"] or 1, bias=a["bias"]),
))


register(OpSpec(
    "outputs", "structure", "Several outputs: the network returns the tuple of its inputs (`outputs:` branches).", user=False,
    shape=lambda a, ins: ins[0], forward=lambda a: (lambda *xs: tuple(xs)),
))
