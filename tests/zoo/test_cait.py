"""CaiT (talking heads, layer scale, class attention) equals timm's cait_xxs24_224 / cait_s24_224."""

from __future__ import annotations


import archdsl
from tests.conftest import zoo

CAIT = zoo("cait.arch")


def test_class_token_joins_before_class_attention():
    stages = archdsl.summary(CAIT, "xxs24")["stages"]
    assert stages[1]["output_shape"] == [1, 196, 192]  # self-attention on patches only
    assert stages[2]["output_shape"] == [1, 197, 192]  # + class token
    model = archdsl.build(CAIT, "xxs24")
    assert model.stages[1].blocks[0].gamma1.shape == (192,)  # layer scale on every residual
