"""MLP-Mixer equals timm's mixer_s16_224 / mixer_b16_224."""

from __future__ import annotations

import pytest
import timm

import archdsl
from tests.conftest import meta_params, zoo
from tests.zoo.transformer_helpers import check_outputs

MIXER = zoo("mlp_mixer.arch")


@pytest.mark.parametrize("variant", ["s16", "b16"])
def test_param_count_equals_reference(variant):
    expected = meta_params(lambda: timm.create_model(f"mixer_{variant}_224", pretrained=False))
    assert meta_params(lambda: archdsl.build(MIXER, variant)) == expected
    assert archdsl.summary(MIXER, variant)["params"] == expected


def test_s16_outputs_equal_reference():
    check_outputs(MIXER, "s16", timm.create_model("mixer_s16_224", pretrained=False))


def test_b16_macs_match_paper():
    # Mixer-B/16: 12.7 GFLOPs at 224 (Swin paper, Table 10).
    assert abs(archdsl.summary(MIXER, "b16")["macs"] / 1e9 - 12.7) / 12.7 < 0.02


@pytest.mark.slow
def test_b16_outputs_equal_reference():
    check_outputs(MIXER, "b16", timm.create_model("mixer_b16_224", pretrained=False))
