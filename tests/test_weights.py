"""`load_reference`: positional copy, and the module-matching fallback for references
that register layers in a different order than they run."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from archdsl.weights import WeightMappingError, load_reference, map_state_dict


class Ours(nn.Module):  # data-flow order: norm, then reduction
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.reduction = nn.Linear(8, 4, bias=False)


class Reference(nn.Module):  # torchvision PatchMerging order: reduction, then norm
    def __init__(self):
        super().__init__()
        self.reduction = nn.Linear(8, 4, bias=False)
        self.norm = nn.LayerNorm(8)


def test_positional_when_the_order_agrees():
    ref = Ours()
    mapping = map_state_dict(ref.state_dict(), Ours())
    assert list(mapping.items()) == [(k, k) for k in ref.state_dict()]


def test_modules_matched_when_registered_in_another_order():
    ref, ours = Reference(), Ours()
    with torch.no_grad():
        ref.norm.weight.uniform_()
    mapping = load_reference(ours, ref)
    assert mapping["reduction.weight"] == "reduction.weight"
    assert mapping["norm.weight"] == "norm.weight"
    assert torch.equal(ours.norm.weight, ref.norm.weight)


def _bottleneck(shortcut_first: bool) -> nn.Module:
    m = nn.Module()
    parts = [("conv1", nn.Conv2d(4, 4, 1, bias=False)), ("conv3", nn.Conv2d(4, 16, 1, bias=False))]
    short = ("shortcut", nn.Sequential())
    short[1].add_module("conv", nn.Conv2d(4, 16, 1, bias=False))
    for name, mod in ([short] + parts if shortcut_first else parts + [short]):
        m.add_module(name, mod)
    return m


def test_equal_shapes_resolved_by_module_names():
    # timm's ByobNet registers the shortcut first; its conv has the shape of conv3
    ref, ours = _bottleneck(True), _bottleneck(False)
    mapping = load_reference(ours, ref)
    assert mapping["shortcut.conv.weight"] == "shortcut.conv.weight"
    assert mapping["conv3.weight"] == "conv3.weight"
    assert torch.equal(ours.conv3.weight, ref.conv3.weight)


def test_unmatched_shapes_report_the_first_disagreement():
    ref = nn.Sequential(nn.Linear(8, 4, bias=False), nn.LayerNorm(3))
    with pytest.raises(WeightMappingError, match="does not match reference"):
        load_reference(Ours(), ref)
