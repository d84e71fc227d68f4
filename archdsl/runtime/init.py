"""Weight initialisation schemes named by `init ...` in a `.arch` file.

A generated network's constructor ends with a call of its scheme, so freshly built models
train like the reference: `init_kaiming` is torchvision's ResNet init, `init_trunc_normal`
ConvNeXt's and ViT's. Without an `init` line the layers keep PyTorch's own defaults.
"""

from __future__ import annotations

import torch
from torch import nn


def init_kaiming(
    model: nn.Module, mode: str = "fan_out", nonlinearity: str = "relu"
) -> None:
    """Conv: Kaiming normal (fan_out, relu); norms: weight 1, bias 0; Linear: PyTorch default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity=nonlinearity)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_trunc_normal(model: nn.Module, std: float = 0.02) -> None:
    """Conv and Linear weights: normal(0, std) truncated at +-2; biases zero."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if (
                2.0 > 8 * std
            ):  # +-2 is beyond 8 std: truncation changes nothing measurable
                with torch.no_grad():
                    m.weight.normal_(0.0, std)
            else:
                nn.init.trunc_normal_(m.weight, std=std, a=-2.0, b=2.0)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
