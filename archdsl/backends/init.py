"""Weight initialisation schemes named by `init ...` in a `.arch` file.

Each scheme mirrors a reference implementation so freshly built models train like it:
`kaiming` is torchvision's ResNet init, `trunc_normal(std=0.02)` is ConvNeXt/ViT's.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from typing import Any, Callable, Iterator

import torch
from torch import nn

_SKIP: contextvars.ContextVar[tuple[type, ...]] = contextvars.ContextVar("archdsl_skip_default_init", default=())


def new_module(cls: type, *args: Any, **kwargs: Any) -> nn.Module:
    """Construct a layer; skip PyTorch's default init when the arch's scheme overwrites it
    anyway (building then costs one init, not two — torchvision pays both)."""
    if cls in _SKIP.get():
        # what torch.nn.utils.skip_init achieves, without building on meta and allocating
        # again: construct through a subclass whose `reset_parameters` does nothing (the
        # tensors stay as allocated, uninitialised, on the current default device), then
        # give the module its real class back
        module = _without_reset(cls)(*args, **kwargs)
        module.__class__ = cls
        return module
    return cls(*args, **kwargs)


@functools.lru_cache(maxsize=None)
def _without_reset(cls: type) -> type:
    return type(cls.__name__, (cls,), {"reset_parameters": _no_reset, "__module__": cls.__module__})


def _no_reset(self: nn.Module) -> None:
    """Left uninitialised: the init scheme fills these parameters next."""


@contextlib.contextmanager
def skipping_default_init(classes: tuple[type, ...]) -> Iterator[None]:
    token = _SKIP.set(classes)
    try:
        yield
    finally:
        _SKIP.reset(token)


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
            _truncated_normal(m.weight, std, -2.0, 2.0)  # the bounds torchvision/timm use
            if m.bias is not None:
                nn.init.zeros_(m.bias)


def _truncated_normal(t, std: float, a: float, b: float) -> None:
    # With bounds beyond 8 std (ConvNeXt/ViT: +-2 at std 0.02 is 100 std) truncation
    # changes nothing measurable (P < 1e-15), so a plain normal is the same distribution
    # without torch's rejection pass over every weight.
    if -a > 8 * std and b > 8 * std:
        with torch.no_grad():
            t.normal_(0.0, std)
    else:
        nn.init.trunc_normal_(t, std=std, a=a, b=b)


# Module classes each scheme fully (re)initialises, so their default init can be skipped.
OVERWRITES: dict[str, tuple[type, ...]] = {
    "kaiming": (nn.Conv2d,),
    "trunc_normal": (nn.Conv2d, nn.Linear),
}

INIT_SCHEMES: dict[str, Callable[..., None]] = {
    "torch": _torch_default,
    "kaiming": _kaiming,
    "trunc_normal": _trunc_normal,
}
