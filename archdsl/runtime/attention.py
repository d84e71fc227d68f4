"""Attention layers on token sequences (L x C), as generated files and `archdsl.build` run them.

Plain, talking-heads, re-attention, class, cross-covariance, performer, spatial-reduction
and CoaT's factorized attention. Attention uses `F.scaled_dot_product_attention` wherever the
math allows, so fused kernels run on GPU and torch.compile sees one op; talking-heads and
re-attention mix the heads between QK^T and softmax, so they spell the attention out.
Tensors are registered in the reference implementations' order (timm, torchvision).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, heads * d) -> (B, heads, L, d)."""
    b, n, _ = t.shape
    return t.reshape(b, n, heads, -1).transpose(1, 2)


def merge_heads(t: torch.Tensor) -> torch.Tensor:
    """(B, heads, L, d) -> (B, L, heads * d)."""
    b, h, n, d = t.shape
    return t.transpose(1, 2).reshape(b, n, h * d)


class Attention(nn.Module):
    """Multi-head self-attention over all tokens: softmax(q k^T / sqrt(d)) v."""

    def __init__(
        self,
        dim: int,
        heads: int,
        head_dim: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(heads * head_dim, dim, bias=proj_bias)

    def qkv_heads(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        b, n, _ = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_heads(x)
        return self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class TalkingHeadsAttention(Attention):
    """CaiT's talking heads: heads mixed before and after the softmax."""

    def __init__(
        self,
        dim: int,
        heads: int,
        head_dim: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
    ) -> None:
        super().__init__(dim, heads, head_dim, qkv_bias, proj_bias)
        self.proj_l = nn.Linear(heads, heads)
        self.proj_w = nn.Linear(heads, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_heads(x)
        attn = (q * self.head_dim**-0.5) @ k.transpose(-2, -1)
        attn = self.proj_l(attn.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).softmax(dim=-1)
        attn = self.proj_w(attn.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.proj(merge_heads(attn @ v))


class ReAttention(Attention):
    """DeepViT's re-attention: softmax(q k^T) mixed across heads by a 1x1 conv + BN."""

    def __init__(
        self,
        dim: int,
        heads: int,
        head_dim: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        transform_scale: bool = False,
    ) -> None:
        super().__init__(dim, heads, head_dim, qkv_bias, proj_bias)
        self.reatten_matrix = nn.Conv2d(heads, heads, 1)
        self.var_norm = nn.BatchNorm2d(heads)
        self.reatten_scale = head_dim**-0.5 if transform_scale else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_heads(x)
        attn = ((q * self.head_dim**-0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        attn = self.var_norm(self.reatten_matrix(attn)) * self.reatten_scale
        return self.proj(merge_heads(attn @ v))


class ClassAttention(nn.Module):
    """Class attention (CaiT, XCiT): only the class token queries all tokens.

    Returns that token (N, C), or with `keep_patches` the whole sequence with the class
    token replaced and the other tokens unchanged.
    """

    def __init__(
        self,
        dim: int,
        heads: int,
        head_dim: int,
        qkv_bias: bool = True,
        keep_patches: bool = False,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.keep = keep_patches
        self.q = nn.Linear(dim, heads * head_dim, bias=qkv_bias)
        self.k = nn.Linear(dim, heads * head_dim, bias=qkv_bias)
        self.v = nn.Linear(dim, heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(heads * head_dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = split_heads(self.q(x[:, :1]), self.heads)
        k = split_heads(self.k(x), self.heads)
        v = split_heads(self.v(x), self.heads)
        cls = self.proj(merge_heads(F.scaled_dot_product_attention(q, k, v)))
        return torch.cat((cls, x[:, 1:]), dim=1) if self.keep else cls[:, 0]


class CrossCovarianceAttention(nn.Module):
    """XCiT's cross-covariance attention: attention across the channels of each head
    (L2-normalized q and k, learned per-head temperature), linear in the tokens."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True) -> None:
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads)
        q, k, v = qkv.permute(2, 0, 3, 4, 1).unbind(0)
        q = F.normalize(q, dim=-1) * self.temperature
        k = F.normalize(k, dim=-1)
        # (B, heads, C / heads, L): attention between channels
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)
        return self.proj(out.permute(0, 3, 1, 2).reshape(b, n, c))


class TokenPerformer(nn.Module):
    """T2T-ViT's token performer: single-head linear attention with `features` positive
    random features (a frozen orthogonal projection), dim -> emb, values as the skip."""

    def __init__(self, dim: int, emb: int, features: int) -> None:
        super().__init__()
        self.emb = emb
        self.m = features
        self.kqv = nn.Linear(dim, 3 * emb)
        self.proj = nn.Linear(emb, emb)
        w = nn.init.orthogonal_(torch.randn(features, emb)) * math.sqrt(features)
        self.w = nn.Parameter(w, requires_grad=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        xd = (x * x).sum(dim=-1, keepdim=True) / 2
        return torch.exp(x @ self.w.t() - xd) / math.sqrt(self.m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, q, v = torch.split(self.kqv(x), self.emb, dim=-1)
        kp, qp = self.features(k), self.features(q)  # (B, L, features)
        d = qp @ kp.sum(dim=1, keepdim=True).transpose(1, 2)  # (B, L, 1)
        y = (qp @ (kp.transpose(1, 2) @ v)) / (d + 1e-8)
        return v + self.proj(y)


class SpatialReductionAttention(nn.Module):
    """PVT attention on an image: queries from every position, keys and values from the
    image shrunk by an sr x sr stride-sr conv and a LayerNorm (sr = 1: global)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        sr: int = 1,
        qkv_bias: bool = True,
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.sr = nn.Conv2d(dim, dim, sr, stride=sr) if sr > 1 else None
        self.norm = nn.LayerNorm(dim, eps=eps) if sr > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q = self.q(x.flatten(2).transpose(1, 2))
        q = q.reshape(b, h * w, self.heads, -1).transpose(1, 2)
        if self.sr is not None:
            x = self.norm(self.sr(x).flatten(2).transpose(1, 2))
        else:
            x = x.flatten(2).transpose(1, 2)
        kv = self.kv(x).reshape(b, -1, 2, self.heads, c // self.heads)
        k, v = kv.permute(2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, h * w, c)
        return self.proj(x).transpose(1, 2).reshape(b, c, h, w)


class ConvRelPosEnc(nn.Module):
    """CoaT's convolutional relative position encoding on q|k|v (L x 3C -> L x C):
    q o depthwise-conv(v) on the image tokens, zero for the `skip` class tokens; one
    depthwise conv per (kernel, heads) window."""

    def __init__(
        self, head_dim: int, windows: tuple[tuple[int, int], ...], skip: int = 1
    ) -> None:
        super().__init__()
        self.skip = skip
        self.splits = [h * head_dim for _, h in windows]
        self.convs = nn.ModuleList(
            nn.Conv2d(ch, ch, k, padding=k // 2, groups=ch)
            for (k, _), ch in zip(windows, self.splits)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c3 = x.shape
        c, s = c3 // 3, self.skip
        side = math.isqrt(n - s)
        q, v = x[:, s:, :c], x[:, s:, 2 * c :]
        v = v.transpose(1, 2).reshape(b, c, side, side)
        parts = torch.split(v, self.splits, dim=1)
        v = torch.cat([conv(part) for conv, part in zip(self.convs, parts)], dim=1)
        out = q * v.flatten(2).transpose(1, 2)
        return torch.cat((out.new_zeros(b, s, c), out), dim=1)


def factor_attention(x: torch.Tensor, heads: int) -> torch.Tensor:
    """CoaT's factorized attention on q|k|v (L x 3C -> L x C): Q/sqrt(d) (softmax over
    the tokens of K)^T V, linear in the number of tokens."""
    b, n, c3 = x.shape
    qkv = x.reshape(b, n, 3, heads, c3 // (3 * heads)).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    context = k.softmax(dim=2).transpose(-1, -2) @ v  # heads x d x d
    out = (q @ context) * q.shape[-1] ** -0.5
    return out.transpose(1, 2).reshape(b, n, c3 // 3)
