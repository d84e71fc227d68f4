"""DeiT (with and without the distillation token) equals timm's deit_*_patch16_224."""

from __future__ import annotations

import pytest
import timm

import archdsl
from tests.conftest import meta_params, zoo
from tests.zoo.transformer_helpers import check_outputs

DEIT = zoo("deit.arch")
VARIANTS = ["tiny", "small", "base", "tiny_distilled", "small_distilled", "base_distilled"]


def reference(variant: str):
    size, _, distilled = variant.partition("_")
    return timm.create_model(f"deit_{size}{'_distilled' if distilled else ''}_patch16_224", pretrained=False)


@pytest.mark.parametrize("variant", VARIANTS)
def test_param_count_equals_reference(variant):
    expected = meta_params(lambda: reference(variant))
    assert meta_params(lambda: archdsl.build(DEIT, variant)) == expected
    assert archdsl.summary(DEIT, variant)["params"] == expected


@pytest.mark.parametrize("variant", ["tiny", "tiny_distilled"])
def test_outputs_equal_reference(variant):
    check_outputs(DEIT, variant, reference(variant))


def test_distillation_token_adds_one_token():
    assert archdsl.summary(DEIT, "tiny")["stages"][1]["output_shape"] == [1, 197, 192]
    assert archdsl.summary(DEIT, "tiny_distilled")["stages"][1]["output_shape"] == [1, 198, 192]


@pytest.mark.slow
@pytest.mark.parametrize("variant", ["small", "base", "small_distilled", "base_distilled"])
def test_larger_variants_outputs(variant):
    check_outputs(DEIT, variant, reference(variant))
