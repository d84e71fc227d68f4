"""Loading reference weights (torchvision / timm state dicts) into archdsl models.

Zoo files are written so that layers appear in the same order as in the reference
implementation, so the mapping is positional: the i-th tensor of the reference state
dict goes to the i-th tensor of ours, with every shape checked (a tensor may be
reshaped only when it holds the same number of elements, e.g. ConvNeXt's layer scale
(C,1,1) vs (C,)). A mismatch stops with the first pair that disagrees.

Where a reference registers its modules in an order no data flow can produce, a
per-family rule in `REFERENCE_ORDER` (keyed by the arch name) reorders the reference's
keys first; each rule says why it exists.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import torch
from torch import nn


class WeightMappingError(ValueError):
    """The reference state dict does not line up with the archdsl model."""


def _preact_projection_after_norm1(keys: list[str]) -> list[str]:
    """timm ResNetV2 registers a block's `downsample` before `norm1`, but the projection reads
    norm1's output, so in any data-flow order it comes after: move it behind norm1."""
    rank = lambda k: 0 if ".norm1." in k else 1 if ".downsample." in k else 2  # noqa: E731
    blocks: dict[str, list[str]] = {}
    for k in keys:
        prefix = k.split(".norm1.")[0].split(".downsample.")[0] if (".norm1." in k or ".downsample." in k) else None
        blocks.setdefault(prefix or k, []).append(k)
    out: list[str] = []
    for group in blocks.values():
        out.extend(sorted(group, key=rank) if any(".downsample." in k for k in group) else group)
    return out


REFERENCE_ORDER = {"resnet_v2": _preact_projection_after_norm1}


def map_state_dict(reference: Mapping[str, torch.Tensor], model: nn.Module) -> "OrderedDict[str, str]":
    """Our key -> reference key, checked tensor by tensor."""
    ours = model.state_dict()
    ref_keys = [k for k in reference if not k.endswith("num_batches_tracked")]
    rule = REFERENCE_ORDER.get(getattr(model, "arch_info", {}).get("name", ""))
    if rule is not None:
        ref_keys = rule(ref_keys)
    our_keys = [k for k in ours if not k.endswith("num_batches_tracked")]
    if len(ref_keys) != len(our_keys):
        raise WeightMappingError(f"reference has {len(ref_keys)} tensors, model has {len(our_keys)}")
    mapping: OrderedDict[str, str] = OrderedDict()
    for ok, rk in zip(our_keys, ref_keys):
        a, b = ours[ok], reference[rk]
        if a.shape != b.shape and a.numel() != b.numel():
            raise WeightMappingError(f"{ok} {tuple(a.shape)} does not match reference {rk} {tuple(b.shape)}")
        mapping[ok] = rk
    return mapping


def load_reference(model: nn.Module, reference: Mapping[str, torch.Tensor] | nn.Module) -> "OrderedDict[str, str]":
    """Copy a torchvision/timm model (or its state dict) into `model`; returns the key mapping."""
    if isinstance(reference, nn.Module):
        reference = reference.state_dict()
    mapping = map_state_dict(reference, model)
    ours = model.state_dict()
    new = {}
    for ok, rk in mapping.items():
        new[ok] = reference[rk].reshape(ours[ok].shape).to(ours[ok].dtype)
    for k in ours:
        if k.endswith("num_batches_tracked"):
            new[k] = ours[k]
    model.load_state_dict(new, strict=True)
    return mapping
