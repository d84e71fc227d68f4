"""Pre-activation ResNet v2 equals timm resnetv2_50 / resnetv2_101."""

from __future__ import annotations

import pytest
import timm
import torch

import archdsl
from tests.conftest import assert_same_outputs, meta_params, randomize_batchnorm, zoo

FILE = zoo("resnet_v2.arch")
VARIANTS = ["resnetv2_50", "resnetv2_101"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_params_equal_reference(variant):
    expected = meta_params(lambda: timm.create_model(variant, pretrained=False))
    assert archdsl.summary(FILE, variant)["params"] == expected
    assert meta_params(lambda: archdsl.build(FILE, variant)) == expected


def test_outputs_equal_reference():
    # timm registers each first block's projection before norm1; weights.REFERENCE_ORDER
    # moves it behind norm1, where the data flow puts it.
    torch.manual_seed(0)
    ref = timm.create_model("resnetv2_50", pretrained=False)
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, "resnetv2_50")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))


def test_only_first_blocks_project():
    m = archdsl.build(FILE, "resnetv2_50")
    first, second = m.stages[1].blocks[0], m.stages[1].blocks[1]
    assert sum(isinstance(x, torch.nn.Conv2d) for x in first.modules()) == 4  # projection + 3 convs
    assert sum(isinstance(x, torch.nn.Conv2d) for x in second.modules()) == 3


@pytest.mark.slow
def test_other_variant_outputs():
    torch.manual_seed(0)
    ref = timm.create_model("resnetv2_101", pretrained=False)
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, "resnetv2_101")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))
