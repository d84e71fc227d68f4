"""Bottleneck attention (BoTNet): `bot_attn(heads)`, `bot_attn/2(heads)`.

Global multi-head self-attention over all H x W positions of an image with 2-D relative
position logits: the logit of query (y, x) for key (y', x') adds q . h[y' - y] + q . w[x' - x]
(learned tables of 2H-1 and 2W-1 vectors, unscaled, as in timm's `BottleneckAttn`). The
projection is one bias-free 1x1 conv to q, k, v; a stride of 2 average-pools the output
(BoTNet's replacement for the strided 3x3 conv). The tables depend on H and W, so the
module is built for one input size.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from archdsl.ir.values import make_divisible
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


class RelativePositionLogits(nn.Module):
    """Relative logits q . h[y' - y] + q . w[x' - x] for every query/key pair: (B, HW, HW)."""

    def __init__(self, height: int, width: int, dim_head: int):
        super().__init__()
        self.height, self.width = height, width
        self.height_rel = nn.Parameter(torch.randn(2 * height - 1, dim_head) * dim_head ** -0.5)
        self.width_rel = nn.Parameter(torch.randn(2 * width - 1, dim_head) * dim_head ** -0.5)
        self.register_buffer("index_h", _offsets(height), persistent=False)
        self.register_buffer("index_w", _offsets(width), persistent=False)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        b, hw, d = q.shape
        h, w = self.height, self.width
        q = q.reshape(b, h, w, d)
        lw = (q @ self.width_rel.t()).gather(-1, self.index_w.expand(b, h, w, w))  # (b, y, x, x')
        lh = (q.transpose(1, 2) @ self.height_rel.t()).gather(-1, self.index_h.expand(b, w, h, h))  # (b, x, y, y')
        return (lh.permute(0, 2, 1, 3)[:, :, :, :, None] + lw[:, :, :, None, :]).reshape(b, hw, hw)


def _offsets(n: int) -> torch.Tensor:
    """(n, n) index of key offset k - q into a table of 2n-1 entries."""
    r = torch.arange(n)
    return r[None, :] - r[:, None] + n - 1


class BottleneckAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dim_head: int, height: int, width: int, stride: int = 1, qkv_bias: bool = False):
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        self.qkv = nn.Conv2d(dim, 2 * heads * dim_head + dim, 1, bias=qkv_bias)
        self.pos_embed = RelativePositionLogits(height, width, dim_head)
        self.pool = nn.AvgPool2d(2, 2) if stride == 2 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        heads, dqk = self.heads, self.dim_head
        q, k, v = torch.split(self.qkv(x), [heads * dqk, heads * dqk, c], dim=1)
        q = q.reshape(b * heads, dqk, h * w).transpose(1, 2)
        k = k.reshape(b * heads, dqk, h * w).transpose(1, 2)
        v = v.reshape(b * heads, c // heads, h * w).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=self.pos_embed(q))
        return self.pool(out.transpose(1, 2).reshape(b, c, h, w))

    def extra_repr(self) -> str:
        return f"heads={self.heads}, dim_head={self.dim_head}"


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
    build=lambda a, ins, out: BottleneckAttention(ins[0][0], a["heads"], _geometry(a, ins)[3], ins[0][1], ins[0][2],
                                                  a.get("stride") or 1, a["qkv_bias"]),
))
