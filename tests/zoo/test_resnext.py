"""ResNeXt (grouped bottleneck from the shared block library) equals torchvision."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from tests.conftest import assert_same_outputs, meta_params, randomize_batchnorm, zoo

FILE = zoo("resnext.arch")
VARIANTS = ["resnext50_32x4d", "resnext101_32x8d"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_params_equal_reference(variant):
    expected = meta_params(getattr(torchvision.models, variant))
    assert archdsl.summary(FILE, variant)["params"] == expected
    assert meta_params(lambda: archdsl.build(FILE, variant)) == expected


def test_outputs_equal_reference():
    torch.manual_seed(0)
    ref = torchvision.models.resnext50_32x4d()
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, "resnext50_32x4d")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))


def test_grouped_3x3():
    m = archdsl.build(FILE, "resnext50_32x4d")
    conv = m.stages[0].blocks[0].conv2
    assert (conv.groups, conv.in_channels, conv.out_channels) == (32, 128, 128)


@pytest.mark.slow
def test_large_variant_outputs():
    torch.manual_seed(0)
    ref = torchvision.models.resnext101_32x8d()
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, "resnext101_32x8d")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))
