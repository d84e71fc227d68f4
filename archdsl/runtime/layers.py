"""Layers of generated networks that torch has no exact equivalent of: channels-first
LayerNorm, the MLP, global pooling, stochastic depth, squeeze-excite, weight-standardized
conv, patch embedding, the token MLP, large-kernel attention, and small tensor functions.

Each is written once, here: `archdsl.build` runs these classes and `archdsl compile -o`
copies their source into the file it writes (archdsl/backends/codegen/runtime.py).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (channels-first LN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Mlp(nn.Module):
    """fc1 -> act -> fc2 on the last dim; on NCHW input, per position over channels."""

    def __init__(
        self,
        in_features: int,
        hidden: int,
        out_features: int,
        act: nn.Module,
        bias: bool = True,
        channels_first: bool = False,
    ) -> None:
        super().__init__()
        self.channels_first = channels_first
        self.fc1 = nn.Linear(in_features, hidden, bias=bias)
        self.act = act
        self.fc2 = nn.Linear(hidden, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_first:
            x = x.permute(0, 2, 3, 1)
        x = self.fc2(self.act(self.fc1(x)))
        if self.channels_first:
            x = x.permute(0, 3, 1, 2)
        return x


class GlobalPool(nn.Module):
    """Mean (or max) over all positions: (N, C, H, W) or (N, L, C) -> (N, C)."""

    def __init__(self, kind: str = "avg", tokens: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.dims = (1,) if tokens else (2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.kind == "avg":
            return x.mean(self.dims)
        return x.amax(self.dims)


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: x * gate(fc2(act(fc1(mean over H, W))))."""

    def __init__(
        self,
        channels: int,
        squeeze: int,
        act: nn.Module,
        gate: nn.Module,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1, bias=bias)
        self.act = act
        self.fc2 = nn.Conv2d(squeeze, channels, 1, bias=bias)
        self.gate = gate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3), keepdim=True)
        return x * self.gate(self.fc2(self.act(self.fc1(s))))


class StdConv2d(nn.Conv2d):
    """Weight-standardized conv (BiT): each filter to zero mean and unit variance.

    `pad` (left, right, top, bottom) zero-pads first: TensorFlow's 'SAME' padding.
    """

    def __init__(
        self, *args, eps: float = 1e-6, pad: tuple[int, ...] | None = None, **kwargs
    ) -> None:
        super().__init__(*args, **kwargs)
        self.eps = eps
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pad is not None:
            x = F.pad(x, self.pad)
        w = self.weight.reshape(1, self.out_channels, -1)
        w = F.batch_norm(w, None, None, training=True, momentum=0.0, eps=self.eps)
        w = w.reshape_as(self.weight)
        return F.conv2d(
            x, w, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class Unfold(nn.Module):
    """T2T-ViT's soft split: overlapping k x k windows, each a token of C*k*k values."""

    def __init__(
        self, kernel: int | tuple[int, int], stride: int, padding: int | tuple[int, int]
    ) -> None:
        super().__init__()
        self.unfold = nn.Unfold(kernel, stride=stride, padding=padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.unfold(x).transpose(1, 2)


class LargeKernelAttention(nn.Module):
    """VAN's large-kernel attention: x * conv1(dilated depthwise(depthwise(x)))."""

    def __init__(self, channels: int, local: int, spatial: int, dilation: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(
            channels, channels, local, padding=local // 2, groups=channels
        )
        self.conv_spatial = nn.Conv2d(
            channels,
            channels,
            spatial,
            padding=dilation * (spatial - 1) // 2,
            groups=channels,
            dilation=dilation,
        )
        self.conv1 = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv1(self.conv_spatial(self.conv0(x)))


class PatchEmbed(nn.Module):
    """p x p conv with stride p, then (N, C, H, W) -> (N, H * W, C) tokens."""

    def __init__(
        self, in_channels: int, dim: int, patch: int, bias: bool = True
    ) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, patch, stride=patch, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class TokenMlp(nn.Module):
    """MLP-Mixer's token mixing: fc1 -> act -> fc2 along the token axis, per channel."""

    def __init__(self, tokens: int, hidden: int, act: nn.Module) -> None:
        super().__init__()
        self.fc1 = nn.Linear(tokens, hidden)
        self.act = act
        self.fc2 = nn.Linear(hidden, tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x.transpose(1, 2)))).transpose(1, 2)


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """View the channels as groups x (C / groups), transpose, flatten (ShuffleNet)."""
    n, c, h, w = x.shape
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def patch_merge(x: torch.Tensor) -> torch.Tensor:
    """Swin patch merging: each 2x2 neighbourhood into channels, C -> 4C."""
    parts = (
        x[..., 0::2, 0::2],
        x[..., 1::2, 0::2],
        x[..., 0::2, 1::2],
        x[..., 1::2, 1::2],
    )
    return torch.cat(parts, dim=1)


def square_grid(t: torch.Tensor) -> torch.Tensor:
    """(B, L, C) tokens of a square grid -> a (B, C, H, W) image, H = W = sqrt(L)."""
    b, n, c = t.shape
    side = math.isqrt(n)
    return t.transpose(1, 2).reshape(b, c, side, n // side)
