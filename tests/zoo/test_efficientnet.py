"""EfficientNet B0-B7 from one B0 table and the compound-scaling rule = torchvision's."""

from __future__ import annotations

import pytest

import archdsl
from tests.conftest import zoo

RESOLUTION = {"b0": 224, "b1": 240, "b2": 260, "b3": 300, "b4": 380, "b5": 456, "b6": 528, "b7": 600}


@pytest.mark.parametrize("variant,res", list(RESOLUTION.items()))
def test_each_variant_at_its_own_resolution(variant, res):
    s = archdsl.summary(zoo("efficientnet.arch"), variant)
    assert s["input_shape"] == [1, 3, res, res]


def test_one_table_in_the_file():
    text = zoo("efficientnet.arch").read_text()
    assert text.count("[16,24,40,80,112,192,320]") == 1
    assert text.count("variant") == 8 and "round8(c*width)" in text and "ceil(n*depth)" in text


def test_b0_macs_match_paper():
    macs = archdsl.summary(zoo("efficientnet.arch"), "b0")["macs"]
    assert abs(macs - 0.39e9) / 0.39e9 < 0.02  # Table 2: 0.39B FLOPs


@pytest.mark.parametrize("variant,ref", [("b0", "efficientnet_b0"), ("b3", "efficientnet_b3")])
def test_stochastic_depth_schedule_equals_torchvision(variant, ref):
    # torchvision: block b of N has rate 0.2 * b / N; only blocks with a shortcut use it
    import torchvision

    r = getattr(torchvision.models, ref)()
    expected = [blk.stochastic_depth.p for stage in r.features[1:-1] for blk in stage if blk.use_res_connect]
    ours = [m.p for name, m in archdsl.build(zoo("efficientnet.arch"), variant).named_modules() if name.endswith("drop_path")]
    assert ours == pytest.approx(expected) and len(ours) > 5
