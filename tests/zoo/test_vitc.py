"""ViT_P / ViT_C ("Early convolutions help transformers see better"): paper Table 1-2 figures."""

from __future__ import annotations

import pytest

import archdsl
from tests.conftest import zoo

VITC = zoo("vitc.arch")

# variant: (params in M, GFLOPs) as published
PAPER = {
    "vitp_1gf": (4.8, 1.1), "vitp_4gf": (18.5, 3.9), "vitp_18gf": (86.6, 17.5),
    "vitc_1gf": (4.6, 1.1), "vitc_4gf": (17.8, 4.0), "vitc_18gf": (81.6, 17.7),
}


@pytest.mark.parametrize("variant", list(PAPER))
def test_params_and_flops_match_paper(variant):
    s = archdsl.summary(VITC, variant)
    params, gflops = PAPER[variant]
    assert round(s["params"] / 1e6, 1) == params
    assert abs(s["macs"] / 1e9 - gflops) <= 0.1


@pytest.mark.parametrize("variant", ["vitc_1gf", "vitc_18gf"])
def test_conv_stem_gives_14x14_tokens(variant):
    assert archdsl.summary(VITC, variant)["stages"][0]["output_shape"][1] == 197
