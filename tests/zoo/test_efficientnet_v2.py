"""EfficientNetV2 S/M/L (Fused-MBConv + MBConv) are torchvision's efficientnet_v2_s/m/l."""

from __future__ import annotations


import archdsl
from tests.conftest import zoo


def test_fused_and_plain_blocks():
    m = archdsl.build(zoo("efficientnet_v2.arch"), "s")
    assert m.arch_info["input_shape"] == [3, 384, 384]
    first = dict(m.stages[0].blocks[0].named_children())  # fused, expansion 1: one 3x3 conv
    assert set(first) == {"conv", "bn", "silu", "drop_path"} and first["drop_path"].p == 0.0  # no drop on the first block
    assert "se" not in dict(m.stages[2].blocks[1].named_children())   # Fused-MBConv: no SE
    assert "se" in dict(m.stages[3].blocks[0].named_children())       # MBConv: SE
