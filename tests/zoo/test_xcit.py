"""XCiT (cross-covariance attention, LPI, class attention) equals timm's xcit_*_12_p16_224."""

from __future__ import annotations

import pytest
import timm

import archdsl
from tests.conftest import meta_params, zoo
from tests.zoo.transformer_helpers import check_outputs

XCIT = zoo("xcit.arch")


def reference(variant: str):
    return timm.create_model(f"xcit_{variant[:-2]}_12_p16_224", pretrained=False)


@pytest.mark.parametrize("variant", ["tiny12", "small12"])
def test_param_count_equals_reference(variant):
    expected = meta_params(lambda: reference(variant))
    assert meta_params(lambda: archdsl.build(XCIT, variant)) == expected
    assert archdsl.summary(XCIT, variant)["params"] == expected


def test_tiny12_outputs_equal_reference():
    check_outputs(XCIT, "tiny12", reference("tiny12"))


def test_macs_match_paper():
    # XCiT paper, Table 1: T12 1.2 GFLOPs, S12 4.8 GFLOPs at 224
    assert abs(archdsl.summary(XCIT, "tiny12")["macs"] / 1e9 - 1.2) < 0.05
    assert abs(archdsl.summary(XCIT, "small12")["macs"] / 1e9 - 4.8) < 0.05


@pytest.mark.slow
def test_small12_outputs_equal_reference():
    check_outputs(XCIT, "small12", reference("small12"))
