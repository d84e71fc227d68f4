"""MLP-Mixer equals timm's mixer_s16_224 / mixer_b16_224."""

from __future__ import annotations


import archdsl
from tests.conftest import zoo

MIXER = zoo("mlp_mixer.arch")


def test_b16_macs_match_paper():
    # Mixer-B/16: 12.7 GFLOPs at 224 (Swin paper, Table 10).
    assert abs(archdsl.summary(MIXER, "b16")["macs"] / 1e9 - 12.7) / 12.7 < 0.02
