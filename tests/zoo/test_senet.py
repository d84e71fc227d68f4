"""SE-ResNet / SE-ResNeXt (the `se` layer inside the shared bottleneck) equal timm."""

from __future__ import annotations

import pytest

import archdsl
from tests.conftest import zoo

FILE = zoo("senet.arch")
VARIANTS = ["seresnet50", "seresnext50_32x4d"]


def test_se_squeezes_by_16():
    se = [m for n, m in archdsl.build(FILE, "seresnet50").named_modules() if n.endswith(".se")]
    assert len(se) == 16
    assert (se[0].fc1.in_channels, se[0].fc1.out_channels) == (256, 16)
    assert (se[-1].fc1.in_channels, se[-1].fc1.out_channels) == (2048, 128)


@pytest.mark.parametrize("token,rd", [("se0.25", 16), ("se(rd=5)", 5), ("se(ratio=0.1, div=8)", 8), ("se", 32)])
def test_se_reduction_rules(token, rd):
    m = archdsl.build(f"arch t()\ninput 64x8x8\ndefault se(ratio=0.5)\nstem {token}\n")
    assert m.stem.se.fc1.out_channels == rd
    assert sum(p.numel() for p in m.parameters()) == 2 * 64 * rd + rd + 64
