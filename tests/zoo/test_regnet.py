"""RegNetX/Y, widths and depths generated in the file, equal timm's regnetx_*/regnety_*."""

from __future__ import annotations

import pytest

import archdsl
from tests.conftest import zoo

VARIANTS = {
    "x_400mf": "regnetx_004", "x_800mf": "regnetx_008", "x_1_6gf": "regnetx_016",
    "y_400mf": "regnety_004", "y_800mf": "regnety_008", "y_1_6gf": "regnety_016", "y_8gf": "regnety_080",
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_macs_match_the_name(variant):
    name = variant.split("_", 1)[1].replace("_", ".")
    flops = float(name[:-2]) * (1e6 if name.endswith("mf") else 1e9)
    assert abs(archdsl.summary(zoo("regnet.arch"), variant)["macs"] - flops) / flops < 0.02


def test_generated_stages():
    import timm

    g = archdsl.api.compile_graph(zoo("regnet.arch"), "x_400mf")
    ref = timm.create_model("regnetx_004", pretrained=False)
    widths = [getattr(ref, f"s{i}").b1.conv3.conv.out_channels for i in range(1, 5)]
    depths = [len(list(getattr(ref, f"s{i}").children())) for i in range(1, 5)]
    assert g.params["depth"] == 22 and sum(depths) == 22
    assert [grp.info["depth"] for _, grp in sorted(g.groups.items(), key=lambda kv: str(kv[0])) if grp.kind == "stage"] == depths
    assert widths == [32, 64, 160, 384]
