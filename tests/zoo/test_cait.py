"""CaiT (talking heads, layer scale, class attention) equals timm's cait_xxs24_224 / cait_s24_224."""

from __future__ import annotations

import pytest
import timm

import archdsl
from tests.conftest import meta_params, zoo
from tests.zoo.transformer_helpers import check_outputs

CAIT = zoo("cait.arch")


@pytest.mark.parametrize("variant", ["xxs24", "s24"])
def test_param_count_equals_reference(variant):
    expected = meta_params(lambda: timm.create_model(f"cait_{variant}_224", pretrained=False))
    assert meta_params(lambda: archdsl.build(CAIT, variant)) == expected
    assert archdsl.summary(CAIT, variant)["params"] == expected


def test_xxs24_outputs_equal_reference():
    check_outputs(CAIT, "xxs24", timm.create_model("cait_xxs24_224", pretrained=False))


def test_class_token_joins_before_class_attention():
    stages = archdsl.summary(CAIT, "xxs24")["stages"]
    assert stages[1]["output_shape"] == [1, 196, 192]  # self-attention on patches only
    assert stages[2]["output_shape"] == [1, 197, 192]  # + class token
    model = archdsl.build(CAIT, "xxs24")
    assert model.stages[1].blocks[0].gamma1.shape == (192,)  # layer scale on every residual


@pytest.mark.slow
def test_s24_outputs_equal_reference():
    check_outputs(CAIT, "s24", timm.create_model("cait_s24_224", pretrained=False))
