"""SqueezeNet 1.0 / 1.1 (fire modules as `cat:` branches) equal torchvision."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from tests.conftest import assert_same_outputs, meta_params, zoo

FILE = zoo("squeezenet.arch")
VARIANTS = [("v1_0", torchvision.models.squeezenet1_0), ("v1_1", torchvision.models.squeezenet1_1)]


@pytest.mark.parametrize("variant,ref", VARIANTS, ids=[v for v, _ in VARIANTS])
def test_params_equal_reference(variant, ref):
    expected = meta_params(ref)
    assert archdsl.summary(FILE, variant)["params"] == expected
    assert meta_params(lambda: archdsl.build(FILE, variant)) == expected


@pytest.mark.parametrize("variant,ref", VARIANTS, ids=[v for v, _ in VARIANTS])
def test_outputs_equal_reference(variant, ref):
    torch.manual_seed(0)
    reference = ref()
    ours = archdsl.build(FILE, variant)
    archdsl.load_reference(ours, reference)
    assert_same_outputs(ours, reference, (3, 224, 224))
