"""Pre-activation ResNet v2 equals timm resnetv2_50 / resnetv2_101."""

from __future__ import annotations

import torch

import archdsl
from tests.conftest import zoo

FILE = zoo("resnet_v2.arch")
VARIANTS = ["resnetv2_50", "resnetv2_101"]


def test_only_first_blocks_project():
    m = archdsl.build(FILE, "resnetv2_50")
    first, second = m.stages[1].blocks[0], m.stages[1].blocks[1]
    assert sum(isinstance(x, torch.nn.Conv2d) for x in first.modules()) == 4  # projection + 3 convs
    assert sum(isinstance(x, torch.nn.Conv2d) for x in second.modules()) == 3
