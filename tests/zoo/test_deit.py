"""DeiT (with and without the distillation token) equals timm's deit_*_patch16_224."""

from __future__ import annotations

import timm

import archdsl
from tests.conftest import zoo

DEIT = zoo("deit.arch")
VARIANTS = ["tiny", "small", "base", "tiny_distilled", "small_distilled", "base_distilled"]


def reference(variant: str):
    size, _, distilled = variant.partition("_")
    return timm.create_model(f"deit_{size}{'_distilled' if distilled else ''}_patch16_224", pretrained=False)


def test_distillation_token_adds_one_token():
    assert archdsl.summary(DEIT, "tiny")["stages"][1]["output_shape"] == [1, 197, 192]
    assert archdsl.summary(DEIT, "tiny_distilled")["stages"][1]["output_shape"] == [1, 198, 192]
