"""VGG A/B/D/E with and without batch norm equal torchvision."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from tests.conftest import assert_same_outputs, meta_params, randomize_batchnorm, zoo

FILE = zoo("vgg.arch")
VARIANTS = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_params_equal_reference(variant):
    expected = meta_params(getattr(torchvision.models, variant))
    assert archdsl.summary(FILE, variant)["params"] == expected
    assert meta_params(lambda: archdsl.build(FILE, variant)) == expected


@pytest.mark.parametrize("variant", ["vgg11", "vgg11_bn"])
def test_outputs_equal_reference(variant):
    torch.manual_seed(0)
    ref = getattr(torchvision.models, variant)()
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, variant)
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))


def test_bn_variants_keep_conv_bias():
    m = archdsl.build(FILE, "vgg16_bn")
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    assert len(convs) == 13 and all(c.bias is not None for c in convs)


@pytest.mark.slow
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v not in ("vgg11", "vgg11_bn")])
def test_other_variants_outputs(variant):
    torch.manual_seed(0)
    ref = getattr(torchvision.models, variant)()
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, variant)
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))
