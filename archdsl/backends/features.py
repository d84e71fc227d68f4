"""Feature extractors: `archdsl.build(..., features=True)` and timm's `features_only=True`.

A `FeatureNet` is the network cut after its last requested feature level, without its
head, returning the levels' maps (a list, or a dict keyed by level index as timm's
FeatureDictNet). Its module names are the network's (`stem.*`, `stages.*`), so a full
network's state dict loads into it (strict=False: the head's keys are left over).
`feature_info` is timm's `FeatureInfo` when timm is importable, else `FeatureInfo` below,
which has the same methods (`channels()`, `reduction()`, `module_name()`, `get_dicts()`,
`out_indices`, ...).
"""

from __future__ import annotations

from collections import OrderedDict
from copy import deepcopy
from typing import Any

import torch
from torch import nn

from archdsl.errors import ArchError
from archdsl.runtime.network import Network, take_indices


class FeatureInfo:
    """timm's FeatureInfo (timm/models/_features.py), for when timm is not installed:
    the feature levels' dicts, and the indices a feature extractor returns."""

    def __init__(self, feature_info: list[dict], out_indices: int | tuple[int, ...]):
        self.out_indices = tuple(range(-out_indices, 0)) if isinstance(out_indices, int) else tuple(out_indices)
        for i, fi in enumerate(feature_info):
            fi.setdefault("index", i)
        self.info = feature_info

    def from_other(self, out_indices: int | tuple[int, ...]) -> FeatureInfo:
        return FeatureInfo(deepcopy(self.info), out_indices)

    def get(self, key: str, idx: int | list[int] | None = None) -> Any:
        if idx is None:
            return [self.info[i][key] for i in self.out_indices]
        if isinstance(idx, (tuple, list)):
            return [self.info[i][key] for i in idx]
        return self.info[idx][key]

    def get_dicts(self, keys: list[str] | None = None, idx: int | list[int] | None = None) -> Any:
        def pick(i: int) -> dict:
            return self.info[i] if keys is None else {k: self.info[i][k] for k in keys}

        if idx is None:
            return [pick(i) for i in self.out_indices]
        if isinstance(idx, (tuple, list)):
            return [pick(i) for i in idx]
        return pick(idx)

    def channels(self, idx: int | list[int] | None = None) -> Any:
        return self.get("num_chs", idx)

    def reduction(self, idx: int | list[int] | None = None) -> Any:
        return self.get("reduction", idx)

    def module_name(self, idx: int | list[int] | None = None) -> Any:
        return self.get("module", idx)

    def __getitem__(self, item: int) -> dict:
        return self.info[item]

    def __len__(self) -> int:
        return len(self.info)


def feature_info(levels: list[dict], out_indices: tuple[int, ...]) -> Any:
    """timm's FeatureInfo over `levels` (copied), or ours without timm."""
    try:
        from timm.models import FeatureInfo as TimmFeatureInfo
    except ImportError:
        return FeatureInfo(deepcopy(levels), out_indices)
    return TimmFeatureInfo(deepcopy(levels), out_indices)


class FeatureNet(Network):
    """The trunk of a built network up to its last requested feature level, returning
    the levels' maps (see the module docstring). `set_grad_checkpointing`,
    `group_matcher` and `forward_intermediates` work as on the network."""

    def __init__(self, net: nn.Module, out_indices: tuple[int, ...] | None = None, output_fmt: str = "NCHW",
                 norm: bool = False, return_dict: bool = False):
        super().__init__()
        levels = list(net.feature_info)
        if not levels:
            raise ArchError("features=True needs a network with `stem` and `stage` lines", None)
        if output_fmt not in ("NCHW", "NLC"):
            raise ValueError(f"output_fmt must be 'NCHW' or 'NLC', got {output_fmt!r}")
        taken = take_indices(len(levels), out_indices)
        net.prune_intermediate_layers(taken, prune_norm=not norm, prune_head=True)
        for name in ("stem", "stages"):
            if hasattr(net, name):
                setattr(self, name, getattr(net, name))
        if net.feature_norm:
            self.head = net.head  # what is left of it: the final norm
        self.feature_norm = net.feature_norm
        self.grad_checkpointing = net.grad_checkpointing
        self.out_indices = tuple(taken)
        self.feature_info = feature_info(levels, self.out_indices)
        self.output_fmt, self.norm, self.return_dict = output_fmt, norm, return_dict
        self.pretrained_cfg = dict(getattr(net, "pretrained_cfg", {}), num_classes=0)
        self.arch_info = getattr(net, "arch_info", None)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor] | dict[str, torch.Tensor]:
        maps = self.forward_intermediates(x, list(self.out_indices), norm=self.norm, output_fmt=self.output_fmt,
                                          intermediates_only=True)
        if self.return_dict:
            return OrderedDict((str(k), m) for k, m in zip(self.out_indices, maps))
        return maps
