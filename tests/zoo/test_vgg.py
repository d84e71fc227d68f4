"""VGG A/B/D/E with and without batch norm equal torchvision."""

from __future__ import annotations

import torch

import archdsl
from tests.conftest import zoo

FILE = zoo("vgg.arch")
VARIANTS = ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]


def test_bn_variants_keep_conv_bias():
    m = archdsl.build(FILE, "vgg16_bn")
    convs = [mod for mod in m.modules() if isinstance(mod, torch.nn.Conv2d)]
    assert len(convs) == 13 and all(c.bias is not None for c in convs)
