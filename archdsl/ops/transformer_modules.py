"""Torch modules behind the token and attention ops (archdsl/ops/tokens.py, attention.py).

Attention uses `F.scaled_dot_product_attention` wherever the math allows (plain, class and
cross-covariance attention), so fused kernels run on GPU and torch.compile sees one op.
Talking-heads and re-attention mix the heads between QK^T and softmax, so they spell the
attention out.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class PatchEmbed(nn.Module):
    """p x p conv with stride p, then (N, C, H, W) -> (N, H*W, C)."""

    def __init__(self, cin: int, dim: int, patch: int, bias: bool = True):
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, patch, stride=patch, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


def sincos_2d(n: int, h: int, w: int, dim: int, temperature: float) -> torch.Tensor:
    """(h*w, dim) fixed embedding: [sin(y), cos(y), sin(x), cos(x)] bands (MoCo v3 / MAE layout)."""
    gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float64), torch.arange(w, dtype=torch.float64), indexing="ij")
    quarter = dim // 4
    omega = 1.0 / temperature ** (torch.arange(quarter, dtype=torch.float64) / quarter)
    oy, ox = gy.flatten()[:, None] * omega, gx.flatten()[:, None] * omega
    return torch.cat([oy.sin(), oy.cos(), ox.sin(), ox.cos()], dim=1)


class SinCosPosEmbed(nn.Module):
    """Adds a fixed 2-D sin-cos embedding to the square grid of tokens after `skip` leading tokens."""

    def __init__(self, n: int, dim: int, skip: int = 0, temperature: float = 10000.0):
        super().__init__()
        side = math.isqrt(n - skip)
        emb = torch.zeros(n, dim, dtype=torch.float64)
        emb[skip:] = sincos_2d(n - skip, side, (n - skip) // max(side, 1), dim, temperature)
        self.register_buffer("pos", emb[None].float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos.to(x.dtype)


def _split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    b, n, _ = t.shape
    return t.reshape(b, n, heads, -1).transpose(1, 2)


def _merge_heads(t: torch.Tensor) -> torch.Tensor:
    b, h, n, d = t.shape
    return t.transpose(1, 2).reshape(b, n, h * d)


class Attention(nn.Module):
    """Global multi-head self-attention: qkv linear, SDPA, output projection (timm's Attention)."""

    def __init__(self, dim: int, heads: int, head_dim: int, qkv_bias: bool = True, proj_bias: bool = True):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim, bias=qkv_bias)
        self.proj = nn.Linear(heads * head_dim, dim, bias=proj_bias)

    def qkv_heads(self, x: torch.Tensor):
        b, n, _ = x.shape
        return self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_heads(x)
        return self.proj(_merge_heads(F.scaled_dot_product_attention(q, k, v)))


class TalkingHeadsAttention(Attention):
    """CaiT's talking heads: linear maps across heads before (proj_l) and after (proj_w) the softmax."""

    def __init__(self, dim: int, heads: int, head_dim: int, qkv_bias: bool = True, proj_bias: bool = True):
        super().__init__(dim, heads, head_dim, qkv_bias, proj_bias)
        self.proj_l = nn.Linear(heads, heads)
        self.proj_w = nn.Linear(heads, heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_heads(x)
        attn = (q * self.head_dim**-0.5) @ k.transpose(-2, -1)
        attn = self.proj_l(attn.permute(0, 2, 3, 1)).permute(0, 3, 1, 2).softmax(dim=-1)
        attn = self.proj_w(attn.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.proj(_merge_heads(attn @ v))


class ReAttention(Attention):
    """DeepViT's re-attention: softmax(QK^T) mixed across heads by a learned matrix, then normalized."""

    def __init__(self, dim: int, heads: int, head_dim: int, qkv_bias: bool = True, proj_bias: bool = True,
                 transform_scale: bool = False):
        super().__init__(dim, heads, head_dim, qkv_bias, proj_bias)
        self.reatten_matrix = nn.Conv2d(heads, heads, 1)
        self.var_norm = nn.BatchNorm2d(heads)
        self.reatten_scale = head_dim**-0.5 if transform_scale else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv_heads(x)
        attn = ((q * self.head_dim**-0.5) @ k.transpose(-2, -1)).softmax(dim=-1)
        attn = self.var_norm(self.reatten_matrix(attn)) * self.reatten_scale
        return self.proj(_merge_heads(attn @ v))


class ClassAttention(nn.Module):
    """CaiT/XCiT class attention: only the class token queries; output is that token (N, C).

    With `keep_patches` (XCiT) the output is the whole sequence: the attended class token
    followed by the input's other tokens unchanged.
    """

    def __init__(self, dim: int, heads: int, head_dim: int, qkv_bias: bool = True, keep_patches: bool = False):
        super().__init__()
        self.heads, self.keep = heads, keep_patches
        inner = heads * head_dim
        self.q = nn.Linear(dim, inner, bias=qkv_bias)
        self.k = nn.Linear(dim, inner, bias=qkv_bias)
        self.v = nn.Linear(dim, inner, bias=qkv_bias)
        self.proj = nn.Linear(inner, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q = _split_heads(self.q(x[:, :1]), self.heads)
        k, v = _split_heads(self.k(x), self.heads), _split_heads(self.v(x), self.heads)
        cls = self.proj(_merge_heads(F.scaled_dot_product_attention(q, k, v)))
        return torch.cat((cls, x[:, 1:]), dim=1) if self.keep else cls[:, 0]


class CrossCovarianceAttention(nn.Module):
    """XCiT's XCA: attention across channels (d_h x d_h per head) of L2-normalized q and k,
    scaled by a learned per-head temperature; linear in the number of tokens."""

    def __init__(self, dim: int, heads: int, qkv_bias: bool = True):
        super().__init__()
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 4, 1).unbind(0)
        q = F.normalize(q, dim=-1) * self.temperature
        k = F.normalize(k, dim=-1)
        out = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (b, heads, c/heads, n)
        return self.proj(out.permute(0, 3, 1, 2).reshape(b, n, c))


class TokenMlp(nn.Module):
    """Mixer's token-mixing MLP: fc1 -> act -> fc2 along the token axis, per channel."""

    def __init__(self, tokens: int, hidden: int, act: nn.Module):
        super().__init__()
        self.fc1 = nn.Linear(tokens, hidden)
        self.act = act
        self.fc2 = nn.Linear(hidden, tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x.transpose(1, 2)))).transpose(1, 2)


class FourierPosEmbed(nn.Module):
    """XCiT's positional encoding: fixed 2-D Fourier features (computed in float32 like the
    reference) projected by a learned 1x1 conv, added to the tokens."""

    def __init__(self, h: int, w: int, dim: int, hidden: int = 32, temperature: float = 10000.0):
        super().__init__()
        self.h, self.w, self.hidden, self.temperature = h, w, hidden, temperature
        self.token_projection = nn.Conv2d(2 * hidden, dim, 1)

    def features(self) -> torch.Tensor:
        h, w, eps, two_pi = self.h, self.w, 1e-6, 2 * math.pi
        y = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w)
        x = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w)
        y, x = y / (h + eps) * two_pi, x / (w + eps) * two_pi
        dim_t = torch.arange(self.hidden, dtype=torch.float32)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.hidden)
        px, py = x[..., None] / dim_t, y[..., None] / dim_t
        px = torch.stack([px[..., 0::2].sin(), px[..., 1::2].cos()], dim=3).flatten(2)
        py = torch.stack([py[..., 0::2].sin(), py[..., 1::2].cos()], dim=3).flatten(2)
        return torch.cat((py, px), dim=2).permute(2, 0, 1)[None]  # (1, 2*hidden, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.features().to(device=x.device, dtype=self.token_projection.weight.dtype)
        return x + self.token_projection(feats).flatten(2).transpose(1, 2)


class StdConv2d(nn.Conv2d):
    """Weight-standardized conv (BiT / ViT-hybrid), optionally with TF 'SAME' padding.

    `pad` is (left, right, top, bottom), fixed at build time from the known input size.
    """

    def __init__(self, *args, eps: float = 1e-6, pad: tuple[int, int, int, int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.eps = eps
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, training=True, momentum=0.0,
                         eps=self.eps).reshape_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


def sinusoid_1d(n: int, dim: int) -> torch.Tensor:
    """(n, dim) table of the original Transformer: sin on even, cos on odd channels."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(dim)
    angle = pos / torch.pow(10000.0, (2 * (j // 2)).double() / dim)
    return torch.where(j % 2 == 0, angle.sin(), angle.cos())


class Unfold(nn.Module):
    """T2T's soft split: overlapping k x k patches, each flattened to a token of C*k*k values."""

    def __init__(self, kernel, stride: int, padding):
        super().__init__()
        self.unfold = nn.Unfold(kernel, stride=stride, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unfold(x).transpose(1, 2)


class TokenPerformer(nn.Module):
    """T2T-ViT's token performer: linear-complexity attention with `m` positive random
    features (a fixed orthogonal projection `w`, a frozen parameter as in the official
    code), dim -> emb, with the values as the skip connection."""

    def __init__(self, dim: int, emb: int, kernel_ratio: float = 0.5):
        super().__init__()
        self.emb, self.m = emb, int(emb * kernel_ratio)
        self.kqv = nn.Linear(dim, 3 * emb)
        self.proj = nn.Linear(emb, emb)
        w = nn.init.orthogonal_(torch.randn(self.m, emb)) * math.sqrt(self.m)
        self.w = nn.Parameter(w, requires_grad=False)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        xd = (x * x).sum(dim=-1, keepdim=True) / 2
        return torch.exp(x @ self.w.t() - xd) / math.sqrt(self.m)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, q, v = torch.split(self.kqv(x), self.emb, dim=-1)
        kp, qp = self.features(k), self.features(q)  # (B, T, m)
        d = (qp @ kp.sum(dim=1, keepdim=True).transpose(1, 2))  # (B, T, 1)
        y = (qp @ (kp.transpose(1, 2) @ v)) / (d + 1e-8)
        return v + self.proj(y)
