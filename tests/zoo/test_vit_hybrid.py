"""R50+ViT-B/16 hybrid equals timm's vit_base_r50_s16_224 (num_classes=1000)."""

from __future__ import annotations

import timm

import archdsl
from tests.conftest import zoo

HYBRID = zoo("vit_hybrid.arch")


def reference():
    return timm.create_model("vit_base_r50_s16_224", pretrained=False, num_classes=1000)


def test_backbone_feeds_196_tokens():
    stem = archdsl.summary(HYBRID, "r50_b16")["stages"][0]
    assert stem["output_shape"] == [1, 197, 768]
