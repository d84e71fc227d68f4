"""DenseNet-BC 121/161/169/201 (`dense:` connectivity, compression 0.5) equal torchvision."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from tests.conftest import assert_same_outputs, meta_params, randomize_batchnorm, zoo

FILE = zoo("densenet.arch")
VARIANTS = ["densenet121", "densenet161", "densenet169", "densenet201"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_params_equal_reference(variant):
    expected = meta_params(getattr(torchvision.models, variant))
    assert archdsl.summary(FILE, variant)["params"] == expected
    assert meta_params(lambda: archdsl.build(FILE, variant)) == expected


def test_outputs_equal_reference():
    torch.manual_seed(0)
    ref = torchvision.models.densenet121()
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, "densenet121")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))


def test_transition_halves_channels():
    s = archdsl.summary(FILE, "densenet121")
    widths = [r["output_shape"][1] for r in s["stages"] if r["name"].startswith("stage")]
    assert widths == [256, 512, 1024, 1024]  # 64 + 6*32; 128 + 12*32; 256 + 24*32; 512 + 16*32


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS[1:])
def test_other_variants_outputs(variant):
    torch.manual_seed(0)
    ref = getattr(torchvision.models, variant)()
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, variant)
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))
