"""Small torch modules the op registry constructs where torch has no exact equivalent."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (ConvNeXt's channels_first LN)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class Mlp(nn.Module):
    """fc1 -> act -> fc2 on the last dim; on NCHW input it works per position over channels."""

    def __init__(self, in_features: int, hidden: int, out_features: int, act: nn.Module, bias: bool = True, channels_first: bool = False):
        super().__init__()
        self.channels_first = channels_first
        from archdsl.backends.init import new_module

        self.fc1 = new_module(nn.Linear, in_features, hidden, bias=bias)
        self.act = act
        self.fc2 = new_module(nn.Linear, hidden, out_features, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_first:
            x = x.permute(0, 2, 3, 1)
        x = self.fc2(self.act(self.fc1(x)))
        if self.channels_first:
            x = x.permute(0, 3, 1, 2)
        return x


class GlobalPool(nn.Module):
    """Mean (or max) over all spatial positions or tokens: (N,C,H,W) or (N,L,C) -> (N,C)."""

    def __init__(self, kind: str = "avg", tokens: bool = False):
        super().__init__()
        self.kind = kind
        self.tokens = tokens

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = (1,) if self.tokens else (2, 3)
        if self.kind == "avg":
            return x.mean(dims)
        return x.amax(dims)

    def extra_repr(self) -> str:
        return self.kind


class DropPath(nn.Module):
    """Stochastic depth: drop the whole residual branch per sample while training."""

    def __init__(self, p: float):
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0 or not self.training:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p:g}"
