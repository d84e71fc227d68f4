"""ShuffleNet V2 (`split:` channel split, `shuffle2` channel shuffle) equals torchvision."""

from __future__ import annotations

import pytest
import torch
from torchvision.models.shufflenetv2 import channel_shuffle

import archdsl
from tests.conftest import zoo

FILE = zoo("shufflenet_v2.arch")
VARIANTS = ["x0_5", "x1_0", "x1_5", "x2_0"]


@pytest.mark.parametrize("groups", [2, 3, 4])
def test_shuffle_matches_torchvision(tmp_arch, groups):
    net = archdsl.build(tmp_arch(f"arch t()\ninput 12x5x7\nstem shuffle{groups}\n"))
    x = torch.randn(2, 12, 5, 7)
    assert torch.equal(net(x), channel_shuffle(x, groups))
    assert not torch.equal(net(x), x)


def test_split_gives_each_branch_one_slice(tmp_arch):
    # three branches, each sees 4 of 12 channels; the identity branch returns its slice
    net = archdsl.build(tmp_arch("arch t()\ninput 12x4x4\nblock b:\n    split: [] [scale(2.0)] [scale(3.0)]\nstem b\n"))
    x = torch.randn(1, 12, 4, 4)
    y = net(x)
    assert torch.equal(y[:, :4], x[:, :4])
    assert torch.allclose(y[:, 4:8], 2 * x[:, 4:8]) and torch.allclose(y[:, 8:], 3 * x[:, 8:])
    compiled = torch.compile(net, fullgraph=True, backend="eager")
    assert torch.equal(compiled(x), y)
