"""Wide ResNet (bottleneck with doubled inner width) equals torchvision."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from tests.conftest import assert_same_outputs, meta_params, randomize_batchnorm, zoo

FILE = zoo("wide_resnet.arch")
VARIANTS = ["wide_resnet50_2", "wide_resnet101_2"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_params_equal_reference(variant):
    expected = meta_params(getattr(torchvision.models, variant))
    assert archdsl.summary(FILE, variant)["params"] == expected
    assert meta_params(lambda: archdsl.build(FILE, variant)) == expected


def test_outputs_equal_reference():
    torch.manual_seed(0)
    ref = torchvision.models.wide_resnet50_2()
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, "wide_resnet50_2")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))


@pytest.mark.slow
def test_large_variant_outputs():
    torch.manual_seed(0)
    ref = torchvision.models.wide_resnet101_2()
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, "wide_resnet101_2")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))
