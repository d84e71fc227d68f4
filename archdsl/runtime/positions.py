"""Position encodings: XCiT's Fourier features, the 1-D and 2-D sinusoid tables, and the
bicubic resize of a learned table to another grid (ViTDet)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class FourierPosEmbed(nn.Module):
    """XCiT's position encoding: fixed 2-D Fourier features of the h x w token grid
    (float32), projected by a learned 1x1 conv and added to the tokens."""

    def __init__(
        self, h: int, w: int, dim: int, hidden: int = 32, temperature: float = 10000.0
    ) -> None:
        super().__init__()
        self.h = h
        self.w = w
        self.hidden = hidden
        self.temperature = temperature
        self.token_projection = nn.Conv2d(2 * hidden, dim, 1)

    def features(self) -> torch.Tensor:
        h, w, eps, two_pi = self.h, self.w, 1e-6, 2 * math.pi
        y = torch.arange(1, h + 1, dtype=torch.float32)[:, None].expand(h, w)
        x = torch.arange(1, w + 1, dtype=torch.float32)[None, :].expand(h, w)
        y, x = y / (h + eps) * two_pi, x / (w + eps) * two_pi
        dim_t = torch.arange(self.hidden, dtype=torch.float32)
        dim_t = self.temperature ** (
            2 * torch.div(dim_t, 2, rounding_mode="floor") / self.hidden
        )
        px, py = x[..., None] / dim_t, y[..., None] / dim_t
        px = torch.stack([px[..., 0::2].sin(), px[..., 1::2].cos()], dim=3).flatten(2)
        py = torch.stack([py[..., 0::2].sin(), py[..., 1::2].cos()], dim=3).flatten(2)
        # (1, 2 * hidden, h, w)
        return torch.cat((py, px), dim=2).permute(2, 0, 1)[None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.token_projection.weight
        feats = self.features().to(device=x.device, dtype=weight.dtype)
        return x + self.token_projection(feats).flatten(2).transpose(1, 2)


def sinusoid_1d(n: int, dim: int) -> torch.Tensor:
    """(1, n, dim) table of the Transformer paper: sin on even, cos on odd channels."""
    pos = torch.arange(n, dtype=torch.float64)[:, None]
    j = torch.arange(dim)
    angle = pos / torch.pow(10000.0, (2 * (j // 2)).double() / dim)
    return torch.where(j % 2 == 0, angle.sin(), angle.cos()).float()[None]


class SinCosPosEmbed(nn.Module):
    """Adds a fixed 2-D sin-cos embedding ([sin y, cos y, sin x, cos x] bands) to the
    square grid of tokens after `skip` leading tokens."""

    def __init__(
        self, n: int, dim: int, skip: int = 0, temperature: float = 10000.0
    ) -> None:
        super().__init__()
        h = math.isqrt(n - skip)
        w = (n - skip) // max(h, 1)
        gy, gx = torch.meshgrid(
            torch.arange(h, dtype=torch.float64),
            torch.arange(w, dtype=torch.float64),
            indexing="ij",
        )
        quarter = dim // 4
        omega = 1.0 / temperature ** (
            torch.arange(quarter, dtype=torch.float64) / quarter
        )
        oy, ox = gy.flatten()[:, None] * omega, gx.flatten()[:, None] * omega
        emb = torch.zeros(n, dim, dtype=torch.float64)
        emb[skip:] = torch.cat([oy.sin(), oy.cos(), ox.sin(), ox.cos()], dim=1)
        self.register_buffer("pos", emb[None].float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pos.to(x.dtype)


def resize_positions(table: torch.Tensor, grid: int, side: int) -> torch.Tensor:
    """(1, grid*grid, C) positions of a square pretraining grid, resized bicubically to
    (1, side*side, C)."""
    c = table.shape[-1]
    table = table.reshape(1, grid, grid, c).permute(0, 3, 1, 2)
    table = F.interpolate(table, size=(side, side), mode="bicubic", align_corners=False)
    return table.permute(0, 2, 3, 1).reshape(1, side * side, c)
