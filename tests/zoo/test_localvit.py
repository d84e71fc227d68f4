"""LocalViT-T* (depthwise conv in the FFN): the paper's Table 1 figures."""

from __future__ import annotations

import torch

import archdsl
from tests.conftest import meta_params, zoo

LOCALVIT = zoo("localvit.arch")


def test_params_and_flops_match_paper():
    s = archdsl.summary(LOCALVIT, "tiny")
    assert round(s["params"] / 1e6, 1) == 5.8
    assert round(s["macs"] / 1e9, 1) == 1.3
    assert meta_params(lambda: archdsl.build(LOCALVIT, "tiny")) == s["params"]


def test_class_token_bypasses_the_local_ffn():
    model = archdsl.build(LOCALVIT, "tiny").eval()
    block = model.stages[0].blocks[0]
    x = torch.randn(2, 197, 192)
    with torch.no_grad():
        after_attn = x + block.attn(block.norm(x))
        y = block(x)
    torch.testing.assert_close(y[:, 0], after_attn[:, 0])
    assert not torch.allclose(y[:, 1:], after_attn[:, 1:])
