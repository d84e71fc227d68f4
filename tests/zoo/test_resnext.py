"""ResNeXt (grouped bottleneck from the shared block library) equals torchvision."""

from __future__ import annotations


import archdsl
from tests.conftest import zoo

FILE = zoo("resnext.arch")
VARIANTS = ["resnext50_32x4d", "resnext101_32x8d"]


def test_grouped_3x3():
    m = archdsl.build(FILE, "resnext50_32x4d")
    conv = m.stages[0].blocks[0].conv2
    assert (conv.groups, conv.in_channels, conv.out_channels) == (32, 128, 128)
