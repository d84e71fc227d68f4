"""Weight initialisation schemes named by `init ...` in a `.arch` file.

Each scheme mirrors a reference implementation so freshly built models train like it:
`kaiming` is torchvision's ResNet init, `trunc_normal(std=0.02)` is ConvNeXt/ViT's.
"""

from __future__ import annotations

from typing import Any, Callable

from torch import nn


def _torch_default(model: nn.Module, **kw: Any) -> None:
    """PyTorch's own per-layer defaults (nothing to do)."""


def _kaiming(model: nn.Module, mode: str = "fan_out", nonlinearity: str = "relu", **kw: Any) -> None:
    """Conv: Kaiming normal (fan_out, relu); norms: weight 1, bias 0; Linear: PyTorch default."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity=nonlinearity)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def _trunc_normal(model: nn.Module, std: float = 0.02, _args: list | None = None, **kw: Any) -> None:
    """Conv and Linear weights: truncated normal(std); biases zero."""
    if _args:
        std = float(_args[0])
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)


INIT_SCHEMES: dict[str, Callable[..., None]] = {
    "torch": _torch_default,
    "kaiming": _kaiming,
    "trunc_normal": _trunc_normal,
}
