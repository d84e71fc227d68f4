"""XCiT (cross-covariance attention, LPI, class attention) equals timm's xcit_*_12_p16_224."""

from __future__ import annotations

import timm

import archdsl
from tests.conftest import zoo

XCIT = zoo("xcit.arch")


def reference(variant: str):
    return timm.create_model(f"xcit_{variant[:-2]}_12_p16_224", pretrained=False)


def test_macs_match_paper():
    # XCiT paper, Table 1: T12 1.2 GFLOPs, S12 4.8 GFLOPs at 224
    assert abs(archdsl.summary(XCIT, "tiny12")["macs"] / 1e9 - 1.2) < 0.05
    assert abs(archdsl.summary(XCIT, "small12")["macs"] / 1e9 - 4.8) < 0.05
