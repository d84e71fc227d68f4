"""Tensor initializers that generated code calls for learned tables."""

from __future__ import annotations

import torch
from torch import nn


def trunc_normal(*shape: int, std: float = 0.02) -> torch.Tensor:
    """A tensor drawn from a normal(0, std) truncated at +-2 (timm's position embeddings)."""
    t = torch.empty(shape)
    nn.init.trunc_normal_(t, std=std, a=-2.0, b=2.0)
    return t
