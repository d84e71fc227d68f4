"""Attention with relative positions: BoTNet's 2-D relative logits, ViTDet's decomposed
relative positions in windows, and Swin's (shifted) window attention, v1 and v2.

Masks, index tables and biases that depend only on the static shape are built once, as
non-persistent buffers; tensors are registered in the references' order (timm, torchvision).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from archdsl.runtime.functions import trunc_normal


def relative_offsets(n: int) -> torch.Tensor:
    """(n, n) index of the key offset k - q into a table of 2n - 1 entries."""
    r = torch.arange(n)
    return r[None, :] - r[:, None] + n - 1


class RelativePositionLogits(nn.Module):
    """Relative logits q . h[y' - y] + q . w[x' - x] per query/key: (B, HW, HW)."""

    def __init__(self, height: int, width: int, dim_head: int) -> None:
        super().__init__()
        self.height = height
        self.width = width
        self.height_rel = nn.Parameter(
            torch.randn(2 * height - 1, dim_head) * dim_head**-0.5
        )
        self.width_rel = nn.Parameter(
            torch.randn(2 * width - 1, dim_head) * dim_head**-0.5
        )
        self.register_buffer("index_h", relative_offsets(height), persistent=False)
        self.register_buffer("index_w", relative_offsets(width), persistent=False)

    def forward(self, q: torch.Tensor) -> torch.Tensor:
        b, hw, d = q.shape
        h, w = self.height, self.width
        q = q.reshape(b, h, w, d)
        # (b, y, x, x') and (b, x, y, y')
        lw = (q @ self.width_rel.t()).gather(-1, self.index_w.expand(b, h, w, w))
        lh = q.transpose(1, 2) @ self.height_rel.t()
        lh = lh.gather(-1, self.index_h.expand(b, w, h, h)).permute(0, 2, 1, 3)
        return (lh[:, :, :, :, None] + lw[:, :, :, None, :]).reshape(b, hw, hw)


class BottleneckAttention(nn.Module):
    """BoTNet's self-attention over all positions with 2-D relative position logits;
    stride 2 average-pools the output."""

    def __init__(
        self,
        dim: int,
        heads: int,
        dim_head: int,
        height: int,
        width: int,
        stride: int = 1,
        qkv_bias: bool = False,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.dim_head = dim_head
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


class RelPosAttention(nn.Module):
    """Multi-head attention over k x k windows (the grid padded) with a decomposed relative
    position bias q . R_h[dy] + q . R_w[dx] (ViTDet); `global_attn`: one window, no pad."""

    def __init__(
        self,
        dim: int,
        heads: int,
        window: int,
        global_attn: bool = False,
        qkv_bias: bool = True,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.window = window
        self.global_attn = global_attn
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
        x = x.view(b, p // k, k, p // k, k, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(-1, k * k, c)
        w = x.shape[0]
        qkv = self.qkv(x).view(w, k * k, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, kk, v = qkv.unbind(0)
        r_q = q.reshape(w, self.heads, k, k, -1)
        rel_h = torch.einsum("bnhwc,hkc->bnhwk", r_q, self.rel_pos_h[self.index])
        rel_w = torch.einsum("bnhwc,wkc->bnhwk", r_q, self.rel_pos_w[self.index])
        bias = rel_h[..., :, None] + rel_w[..., None, :]
        bias = bias.reshape(w, self.heads, k * k, k * k)
        x = F.scaled_dot_product_attention(q, kk, v, attn_mask=bias)
        x = self.proj(x.transpose(1, 2).reshape(w, k * k, c))
        x = x.view(b, p // k, p // k, k, k, c).permute(0, 1, 3, 2, 4, 5)
        x = x.reshape(b, p, p, c)
        return x[:, :side, :side].reshape(b, n, c)


def relative_position_index(window: int) -> torch.Tensor:
    """(window^4,) index of each position pair of a window into the (2w-1)^2 table."""
    coords = torch.stack(
        torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
    ).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return (rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]).flatten()


def log_spaced_coords(window: int) -> torch.Tensor:
    """(1, 2w-1, 2w-1, 2) relative coordinates, log-spaced in [-8, 8] (Swin v2)."""
    r = torch.arange(-(window - 1), window, dtype=torch.float32)
    table = (
        torch.stack(torch.meshgrid(r, r, indexing="ij")).permute(1, 2, 0).unsqueeze(0)
    )
    table = table / (window - 1) * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0


def shift_mask(
    height: int, width: int, window: int, shift_h: int, shift_w: int
) -> torch.Tensor:
    """(windows, 1, w*w, w*w) additive mask: -100 between tokens from different regions
    of the cyclically shifted image."""
    region = torch.zeros(height, width)
    count = 0
    for hs in (slice(0, -window), slice(-window, -shift_h), slice(-shift_h, None)):
        for ws in (slice(0, -window), slice(-window, -shift_w), slice(-shift_w, None)):
            region[hs, ws] = count
            count += 1
    region = region.view(height // window, window, width // window, window)
    region = region.permute(0, 2, 1, 3).reshape(-1, window * window)
    diff = region.unsqueeze(1) - region.unsqueeze(2)
    return torch.where(diff != 0, -100.0, 0.0).unsqueeze(1)


class WindowAttention(nn.Module):
    """Swin's (shifted) window attention on (B, C, H, W) with a relative position bias;
    `cosine=True` is Swin v2: cosine attention, log-spaced continuous position bias."""

    def __init__(
        self,
        dim: int,
        heads: int,
        window: int,
        shift: int,
        height: int,
        width: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        cosine: bool = False,
        cpb_hidden: int = 512,
    ) -> None:
        super().__init__()
        self.heads = heads
        self.window = window
        self.cosine = cosine
        # no shift along an axis that one window covers
        self.shift = (shift if window < height else 0, shift if window < width else 0)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        if cosine:
            self.register_buffer("relative_coords_table", log_spaced_coords(window))
            self.register_buffer(
                "relative_position_index", relative_position_index(window)
            )
            self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
            self.cpb_mlp = nn.Sequential(
                nn.Linear(2, cpb_hidden),
                nn.ReLU(inplace=True),
                nn.Linear(cpb_hidden, heads, bias=False),
            )
        else:
            self.relative_position_bias_table = nn.Parameter(
                torch.zeros((2 * window - 1) ** 2, heads)
            )
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
            self.register_buffer(
                "relative_position_index", relative_position_index(window)
            )
        mask = (
            shift_mask(height, width, window, *self.shift) if any(self.shift) else None
        )
        self.register_buffer("attn_mask", mask, persistent=False)

    def position_bias(self) -> torch.Tensor:
        n = self.window * self.window
        if self.cosine:
            table = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads)
        else:
            table = self.relative_position_bias_table
        bias = (
            table[self.relative_position_index]
            .view(n, n, -1)
            .permute(2, 0, 1)
            .unsqueeze(0)
        )
        return 16 * torch.sigmoid(bias) if self.cosine else bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ws, heads, d = self.window, self.heads, c // self.heads
        nh, nw = h // ws, w // ws
        x = x.permute(0, 2, 3, 1)
        if any(self.shift):
            x = torch.roll(x, shifts=(-self.shift[0], -self.shift[1]), dims=(1, 2))
        x = (
            x.reshape(b, nh, ws, nw, ws, c)
            .permute(0, 1, 3, 2, 4, 5)
            .reshape(b * nh * nw, ws * ws, c)
        )
        qkv_bias = self.qkv.bias
        if self.cosine and qkv_bias is not None:  # Swin v2 keeps the key bias at zero
            k_bias = torch.zeros_like(qkv_bias[c : 2 * c])
            qkv_bias = torch.cat((qkv_bias[:c], k_bias, qkv_bias[2 * c :]))
        qkv = F.linear(x, self.qkv.weight, qkv_bias)
        # q, k, v: (B * windows, heads, N, d). Four dimensions, so scaled_dot_product_attention
        # takes its fused kernel (a 5-D batch falls back to the unfused math: about 3x slower
        # on CPU); the shift mask (windows, 1, N, N) is tiled over the batch to match
        qkv = qkv.reshape(b * nh * nw, ws * ws, 3, heads, d)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        bias = self.position_bias()
        if self.attn_mask is not None:
            bias = (bias + self.attn_mask).repeat(b, 1, 1, 1)
        if self.cosine:
            scale = torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
            q, k = F.normalize(q, dim=-1) * scale, F.normalize(k, dim=-1)
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=1.0)
        else:
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = self.proj(x.transpose(1, 2).reshape(b * nh * nw, ws * ws, c))
        x = (
            x.reshape(b, nh, nw, ws, ws, c)
            .permute(0, 1, 3, 2, 4, 5)
            .reshape(b, h, w, c)
        )
        if any(self.shift):
            x = torch.roll(x, shifts=self.shift, dims=(1, 2))
        return x.permute(0, 3, 1, 2)


class RelPosBias(nn.Module):
    """A learned relative-position bias for an h x w window: forward() gives heads x N x N
    (N = h * w), each query/key pair's entry of the table.

    kind "offset": the table holds one row per 2-D offset (query - key) (Swin, timm's
    RelPosBias); "axial": the same offsets, heads first, key - query (MaxViT's TF port);
    "distance": one entry per per-axis distance |dy|, |dx| (EfficientFormer).
    """

    def __init__(self, heads: int, h: int, w: int, kind: str = "offset") -> None:
        super().__init__()
        self.kind = kind
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        dy = ys.flatten()[:, None] - ys.flatten()[None, :]
        dx = xs.flatten()[:, None] - xs.flatten()[None, :]
        if kind == "offset":
            self.relative_position_bias_table = nn.Parameter(
                trunc_normal((2 * h - 1) * (2 * w - 1), heads, std=0.02)
            )
            index = (dy + h - 1) * (2 * w - 1) + (dx + w - 1)
        elif kind == "axial":
            self.relative_position_bias_table = nn.Parameter(
                trunc_normal(heads, 2 * h - 1, 2 * w - 1, std=0.02)
            )
            index = (h - 1 - dy) * (2 * w - 1) + (w - 1 - dx)
        elif kind == "distance":
            self.attention_biases = nn.Parameter(torch.zeros(heads, h * w))
            index = dy.abs() * w + dx.abs()
        else:
            raise ValueError(
                f"RelPosBias kind must be offset, axial or distance, got {kind!r}"
            )
        self.register_buffer("index", index, persistent=False)

    def forward(self) -> torch.Tensor:
        if self.kind == "offset":
            return self.relative_position_bias_table[self.index].permute(2, 0, 1)
        if self.kind == "axial":
            return self.relative_position_bias_table.flatten(1)[:, self.index]
        return self.attention_biases[:, self.index]
