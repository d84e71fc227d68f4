"""VAN (no library has it): parameters and MACs against the paper's ImageNet table, stage shapes,
and the `lka` layer against a direct transcription of its definition."""

from __future__ import annotations

import pytest
import torch

import archdsl
from tests.conftest import zoo

# the paper's figures: params (M, one decimal) and GFLOPs
PAPER = {"tiny": (4.1, 0.9), "small": (13.9, 2.5), "base": (26.6, 5.0), "large": (44.8, 9.0)}
DIMS = {"tiny": [32, 64, 160, 256], "small": [64, 128, 320, 512], "base": [64, 128, 320, 512], "large": [64, 128, 320, 512]}


@pytest.mark.parametrize("variant", list(PAPER))
def test_params_and_macs_match_the_paper(variant):
    params, gflops = PAPER[variant]
    s = archdsl.summary(zoo("van.arch"), variant)
    assert abs(s["params"] / 1e6 - params) <= 0.05  # the paper rounds to 0.1M
    assert abs(s["macs"] / 1e9 - gflops) / gflops < 0.05
    with torch.device("meta"):
        m = archdsl.build(zoo("van.arch"), variant)
    assert sum(p.numel() for p in m.parameters()) == s["params"]


@pytest.mark.parametrize("variant", ["tiny", "small"])
def test_stage_shapes(variant):
    m = archdsl.build(zoo("van.arch"), variant, features=True)
    assert [(f["num_chs"], f["reduction"]) for f in m.feature_info] == list(zip(DIMS[variant], [4, 8, 16, 32]))
    with torch.no_grad():
        outs = m.eval()(torch.randn(1, 3, 224, 224))
    assert [tuple(o.shape[1:]) for o in outs] == [(c, 224 // r, 224 // r) for c, r in zip(DIMS[variant], [4, 8, 16, 32])]


def test_lka_is_the_decomposed_large_kernel_attention():
    m = archdsl.build("arch t()\ninput 6x20x20\nstem lka21(d=3)\n").double().eval()
    lka = m.stem.lka
    assert lka.conv0.kernel_size == (5, 5) and lka.conv0.groups == 6
    assert lka.conv_spatial.kernel_size == (7, 7) and lka.conv_spatial.dilation == (3, 3) and lka.conv_spatial.groups == 6
    x = torch.randn(2, 6, 20, 20, dtype=torch.float64)
    f = torch.nn.functional
    attn = f.conv2d(x, lka.conv0.weight, lka.conv0.bias, padding=2, groups=6)
    attn = f.conv2d(attn, lka.conv_spatial.weight, lka.conv_spatial.bias, padding=9, dilation=3, groups=6)
    attn = f.conv2d(attn, lka.conv1.weight, lka.conv1.bias)
    with torch.no_grad():
        torch.testing.assert_close(m(x), x * attn, rtol=1e-12, atol=1e-12)
    s = archdsl.summary("arch t()\ninput 6x20x20\nstem lka21(d=3)\n")
    assert s["params"] == sum(p.numel() for p in m.parameters())
    assert s["macs"] == 20 * 20 * 6 * (25 + 49 + 6)


def test_lka_other_decomposition():
    # K=13, d=2: a 3x3 depthwise, then a 7x7 depthwise with dilation 2
    m = archdsl.build("arch t()\ninput 4x16x16\nstem lka13(d=2)\n")
    assert m.stem.lka.conv0.kernel_size == (3, 3) and m.stem.lka.conv_spatial.kernel_size == (7, 7)
    assert m(torch.randn(1, 4, 16, 16)).shape == (1, 4, 16, 16)
