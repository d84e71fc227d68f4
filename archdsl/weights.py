"""Loading reference weights (torchvision / timm state dicts) into archdsl models.

Zoo files are written so that layers appear in the same order as in the reference
implementation, so the mapping is positional: the i-th tensor of the reference state
dict goes to the i-th tensor of ours, with every shape checked (a tensor may be
reshaped only when it holds the same number of elements, e.g. ConvNeXt's layer scale
(C,1,1) vs (C,)). A mismatch stops with the first pair that disagrees.

Where a reference registers a few tensors out of layer order (timm's ViT puts `cls_token`
and `pos_embed` before the patch embedding, torchvision's after it; DeiT registers
`dist_token` after `pos_embed`), the positional pairing fails on shapes and a second,
order-preserving pairing is tried: each of our tensors takes the earliest unused reference
tensor of the same shape. Tensors of equal shape therefore keep their relative order, so
this can only move tensors whose shapes are unique among their neighbours; the zoo tests
check the result by comparing outputs.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Mapping

import torch
from torch import nn


class WeightMappingError(ValueError):
    """The reference state dict does not line up with the archdsl model."""


def map_state_dict(reference: Mapping[str, torch.Tensor], model: nn.Module) -> "OrderedDict[str, str]":
    """Our key -> reference key, checked tensor by tensor."""
    ours = model.state_dict()
    ref_keys = [k for k in reference if not k.endswith("num_batches_tracked")]
    our_keys = [k for k in ours if not k.endswith("num_batches_tracked")]
    if len(ref_keys) != len(our_keys):
        raise WeightMappingError(f"reference has {len(ref_keys)} tensors, model has {len(our_keys)}")
    mapping: OrderedDict[str, str] = OrderedDict()
    for ok, rk in zip(our_keys, ref_keys):
        a, b = ours[ok], reference[rk]
        if a.shape != b.shape and a.numel() != b.numel():
            by_shape = _pair_by_shape(reference, ref_keys, ours, our_keys)
            if by_shape is not None:
                return by_shape
            raise WeightMappingError(f"{ok} {tuple(a.shape)} does not match reference {rk} {tuple(b.shape)}")
        mapping[ok] = rk
    return mapping


def _pair_by_shape(reference, ref_keys, ours, our_keys) -> "OrderedDict[str, str] | None":
    """Each of our tensors takes the earliest unused reference tensor of the same shape."""
    queues: dict[tuple, list[str]] = {}
    for rk in ref_keys:
        queues.setdefault(tuple(reference[rk].shape), []).append(rk)
    mapping: OrderedDict[str, str] = OrderedDict()
    for ok in our_keys:
        queue = queues.get(tuple(ours[ok].shape))
        if not queue:
            return None
        mapping[ok] = queue.pop(0)
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
