"""zoo/blocks/mobile.arch: the inverted residual (MBConv) is defined once for the mobile families."""

from __future__ import annotations

import re

import pytest

import archdsl
from tests.conftest import zoo

FAMILIES = ["mobilenet_v2.arch", "mnasnet.arch", "mobilenet_v3.arch", "efficientnet.arch", "efficientnet_v2.arch"]


@pytest.mark.parametrize("name", FAMILIES)
def test_family_uses_the_shared_block(name):
    text = zoo(name).read_text()
    assert 'use "blocks/mobile.arch"' in text
    assert re.search(r"^stage mbconv|block=", text, re.M)
    assert not re.search(r"^block (mbconv|inverted|bneck)\b", text, re.M)  # no private copy


def test_expand_is_absent_when_it_keeps_the_width():
    m = archdsl.build(zoo("mobilenet_v2.arch"))
    first = dict(m.stages[0].blocks[0].named_children())  # t = 1: depthwise, then project
    assert list(first)[0] == "dwconv" and first["pwconv"].in_channels == 32
    assert m.stages[1].blocks[0].pwconv1.out_channels == 16 * 6  # t = 6: expand 1x1


def test_se_ratio_measured_against_se_of():
    eff = archdsl.build(zoo("efficientnet.arch"), "b0")
    assert eff.stages[1].blocks[0].se.fc1.out_channels == 16 // 4  # a quarter of the block input
    v3 = archdsl.build(zoo("mobilenet_v3.arch"), "large")
    assert v3.stages[0].blocks[3].se.fc1.out_channels == 24  # make_div(72 / 4, 8): of the expanded width
