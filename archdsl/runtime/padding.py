"""TF "SAME" padding computed from the input size at run time (timm's Conv2dSame,
MaxPool2dSame, AvgPool2dSame): the extra pixel, if any, goes bottom/right."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def same_total(size: int, k: int, s: int, d: int = 1) -> int:
    """Total padding of one dimension under TF "SAME" (output ceil(size / s))."""
    return max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)


def pad_same(
    x: torch.Tensor,
    k: tuple[int, int],
    s: tuple[int, int],
    d: tuple[int, int],
    value: float = 0.0,
) -> torch.Tensor:
    """Pad H and W as TF "SAME" does: the extra pixel, if any, at the bottom/right."""
    ih, iw = x.shape[-2:]
    ph, pw = same_total(ih, k[0], s[0], d[0]), same_total(iw, k[1], s[1], d[1])
    return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2), value=value)


class Conv2dSame(nn.Conv2d):
    """A convolution with TF "SAME" padding computed from the input size."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(
            pad_same(x, self.kernel_size, self.stride, self.dilation)
        )


class MaxPool2dSame(nn.MaxPool2d):
    """Max pooling with TF "SAME" padding (padded with -inf)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size, self.stride
        k, s = (k, k) if isinstance(k, int) else k, (s, s) if isinstance(s, int) else s
        return super().forward(pad_same(x, k, s, (1, 1), value=-float("inf")))


class AvgPool2dSame(nn.AvgPool2d):
    """Average pooling with TF "SAME" padding as explicit zeros (counted, as in timm)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k, s = self.kernel_size, self.stride
        k, s = (k, k) if isinstance(k, int) else k, (s, s) if isinstance(s, int) else s
        return super().forward(pad_same(x, k, s, (1, 1)))
