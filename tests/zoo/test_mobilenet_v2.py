"""MobileNetV2 is torchvision's mobilenet_v2, at every width multiplier."""

from __future__ import annotations

import pytest
import torchvision

import archdsl
from tests.conftest import zoo


@pytest.mark.parametrize("width", [0.35, 0.5, 0.75, 1.4])
def test_width_multiplier_is_a_parameter(width):
    expected = sum(p.numel() for p in torchvision.models.mobilenet_v2(width_mult=width).parameters())
    assert archdsl.summary(zoo("mobilenet_v2.arch"), width=width)["params"] == expected


def test_shortcuts_only_where_shape_is_kept():
    m = archdsl.build(zoo("mobilenet_v2.arch"))
    # 17 blocks; a shortcut needs stride 1 and equal widths: 10 of them (tv's use_res_connect)
    ref = torchvision.models.mobilenet_v2()
    expected = sum(1 for b in ref.features[1:-1] if b.use_res_connect)
    g = archdsl.api.compile_graph(zoo("mobilenet_v2.arch"))
    adds = [n for n in g if n.op == "add"]
    assert len(adds) == expected == 10
    assert not any(n.op == "conv" and "shortcut" in n.sub for n in g)  # never a projection
    assert m.stages[6].blocks[0].pwconv2.out_channels == 320
