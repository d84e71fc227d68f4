"""DeepViT (re-attention): no library has it; parameter counts against the paper / official code."""

from __future__ import annotations

import torch

import archdsl
from tests.conftest import meta_params, zoo

DEEPVIT = zoo("deepvit.arch")


def test_s_params_match_paper():
    # DeepViT paper, Table 5: DeepViT-S 27M (16 blocks, 396 wide, last 5 with re-attention)
    params = archdsl.summary(DEEPVIT, "s")["params"]
    assert round(params / 1e6) == 27
    assert meta_params(lambda: archdsl.build(DEEPVIT, "s")) == params


def test_l_has_the_official_shape():
    # The paper lists DeepViT-L as 55M; its official configuration (32 blocks of width 420,
    # MLP ratio 3) holds 58.9M: the derivation is in zoo/deepvit.arch, recounted here.
    s = archdsl.summary(DEEPVIT, "l")
    assert [st["blocks"] for st in s["stages"][1:3]] == [20, 12]
    assert s["stages"][2]["output_shape"] == [1, 197, 420]


def test_l_params_follow_the_official_layer_shapes():
    """The count written out in zoo/deepvit.arch, layer by layer from the official deepvit_L
    (dvit_repo models/deep_vision_transformer.py), not from our registry's rules."""
    d, hidden, heads = 420, 3 * 420, 12
    block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * hidden + hidden) + (hidden * d + d)
    transform = heads * heads + heads + 2 * heads  # 1x1 conv over the heads' maps, BatchNorm2d(heads)
    stem = 3 * 64 * 7 * 7 + 2 * 64 + 64 * 64 * 3 * 3 + 2 * 64 + 64 * d * 8 * 8 + d
    tokens = d + (14 * 14 + 1) * d
    head = 2 * d + d * 1000 + 1000
    assert (block, transform, stem) == (1_769_040, 180, 1_767_268)
    expected = 32 * block + 12 * transform + stem + tokens + head
    assert expected == 58_883_708
    assert archdsl.summary(DEEPVIT, "l")["params"] == expected
    assert meta_params(lambda: archdsl.build(DEEPVIT, "l")) == expected


def test_reattention_blocks_and_forward():
    model = archdsl.build(DEEPVIT, "s").eval()
    assert type(model.stages[1].blocks[0].attn).__name__ == "ReAttention"
    assert type(model.stages[0].blocks[10].attn).__name__ == "Attention"
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
