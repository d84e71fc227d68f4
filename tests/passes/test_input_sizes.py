"""Input sizes: `check` accepts every size the network really runs at (issue 20, bug 1).

A residual shortcut's 1x1 projection with stride s and no padding maps H to
floor((H - 1) / s) + 1 = ceil(H / s), the same as a padded strided 3x3 in the branch, so
ResNet-50 runs at odd sizes (97, 100, 225) exactly like torchvision's.
"""

from __future__ import annotations

import pytest
import torch

import archdsl
from archdsl.errors import ArchError
from archdsl.passes.shapes import projection_stride
from tests.conftest import zoo


@pytest.mark.parametrize("h,ho,s", [(56, 28, 2), (25, 13, 2), (57, 29, 2), (7, 4, 2), (1, 1, 1), (9, 3, 3), (10, 4, 3)])
def test_projection_stride_is_the_real_conv_arithmetic(h, ho, s):
    assert projection_stride(h, h, ho, ho) == s
    assert torch.nn.Conv2d(1, 1, 1, stride=s)(torch.zeros(1, 1, h, h)).shape[-1] == ho


@pytest.mark.parametrize("h,ho", [(25, 12), (8, 5), (4, 0)])
def test_projection_stride_refuses_what_no_1x1_conv_gives(h, ho):
    assert projection_stride(h, h, ho, ho) is None


@pytest.mark.parametrize("size", [97, 100, 225])
def test_resnet50_odd_sizes_match_torchvision(size):
    torchvision = pytest.importorskip("torchvision")
    ours = archdsl.build(zoo("resnet.arch"), "resnet50", input_shape=(3, size, size))
    ref = torchvision.models.resnet50()
    archdsl.load_reference(ours, ref)
    x = torch.randn(1, 3, size, size, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = ours.double().eval()(x), ref.double().eval()(x)
    assert torch.equal(a, b) or (a - b).abs().max().item() < 1e-9


def test_branch_no_projection_can_match_is_still_refused():
    text = """arch t()
input 3x25x25
block b:
    residual: conv3/2(8) apool12
stem conv3(8)
stage b x1
"""
    with pytest.raises(ArchError, match="no strided 1x1 projection"):
        archdsl.compile_graph(text)


def test_pool_with_ceil_mode_drops_no_pixels():
    text = "arch t()\ninput 3x33x33\nstem conv3(8) maxpool2/2(ceil=true)\nhead gap fc(10)\n"
    assert [n.shape for n in archdsl.compile_graph(text) if n.op == "maxpool"] == [(8, 17, 17)]
    model = archdsl.build(text)
    assert model(torch.zeros(1, 3, 33, 33)).shape == (1, 10)
    with pytest.raises(ArchError, match="divisible by 2"):
        archdsl.compile_graph(text.replace("(ceil=true)", ""))
