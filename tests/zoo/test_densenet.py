"""DenseNet-BC 121/161/169/201 (`dense:` connectivity, compression 0.5) equal torchvision."""

from __future__ import annotations


import archdsl
from tests.conftest import zoo

FILE = zoo("densenet.arch")
VARIANTS = ["densenet121", "densenet161", "densenet169", "densenet201"]


def test_transition_halves_channels():
    s = archdsl.summary(FILE, "densenet121")
    widths = [r["output_shape"][1] for r in s["stages"] if r["name"].startswith("stage")]
    assert widths == [256, 512, 1024, 1024]  # 64 + 6*32; 128 + 12*32; 256 + 24*32; 512 + 16*32
