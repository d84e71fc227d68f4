"""R50+ViT-B/16 hybrid equals timm's vit_base_r50_s16_224 (num_classes=1000)."""

from __future__ import annotations

import timm

import archdsl
from tests.conftest import meta_params, zoo
from tests.zoo.transformer_helpers import check_outputs

HYBRID = zoo("vit_hybrid.arch")


def reference():
    return timm.create_model("vit_base_r50_s16_224", pretrained=False, num_classes=1000)


def test_param_count_equals_reference():
    expected = meta_params(reference)
    assert meta_params(lambda: archdsl.build(HYBRID, "r50_b16")) == expected
    assert archdsl.summary(HYBRID, "r50_b16")["params"] == expected


def test_outputs_equal_reference():
    # stride-2 convs and the max pool use TF 'SAME' padding (one pixel right/bottom only)
    check_outputs(HYBRID, "r50_b16", reference())


def test_backbone_feeds_196_tokens():
    stem = archdsl.summary(HYBRID, "r50_b16")["stages"][0]
    assert stem["output_shape"] == [1, 197, 768]
