"""MobileNetV3 large and small are torchvision's mobilenet_v3_large / _small."""

from __future__ import annotations

import pytest

import archdsl
from tests.conftest import zoo

VARIANTS = [("large", "tv:mobilenet_v3_large"), ("small", "tv:mobilenet_v3_small")]


def test_per_block_activation_and_se_gate():
    m = archdsl.build(zoo("mobilenet_v3.arch"), "large")
    blocks = m.stages[0].blocks
    assert len(blocks) == 15
    assert type(blocks[0].act).__name__ == "ReLU" and not hasattr(blocks[0], "se")
    assert type(blocks[6].act).__name__ == "Hardswish"  # one module, called after the expansion and the depthwise conv
    se = blocks[3].se  # 5x5, expansion 72, SE: squeeze make_div(72 / 4, 8) = 24
    assert se.fc1.out_channels == 24 and type(se.gate).__name__ == "Hardsigmoid"


def test_macs_match_paper():
    # Table 3/4 of the paper: 219M and 56M multiply-adds
    for variant, paper in (("large", 219e6), ("small", 56e6)):
        macs = archdsl.summary(zoo("mobilenet_v3.arch"), variant)["macs"]
        assert abs(macs - paper) / paper < 0.02


@pytest.mark.slow
def test_torch_compile_fullgraph():
    import torch

    torch._dynamo.reset()
    model = archdsl.build(zoo("mobilenet_v3.arch"), "small").eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
