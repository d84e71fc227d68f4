"""T2T-ViT-14: no library has it; the paper's figures and token shapes."""

from __future__ import annotations

import torch

import archdsl
from archdsl.api import compile_graph
from tests.conftest import meta_params, zoo

T2T = zoo("t2t_vit.arch")


def test_params_and_flops_match_paper():
    # T2T-ViT paper, Table 2: T2T-ViT-14 21.5M params, 4.8 GFLOPs (performer tokens-to-token)
    s = archdsl.summary(T2T, "t2t_vit_14")
    assert round(s["params"] / 1e6, 1) == 21.5
    assert round(s["macs"] / 1e9, 1) == 4.8
    assert meta_params(lambda: archdsl.build(T2T, "t2t_vit_14")) == s["params"]


def test_soft_splits_shrink_tokens_56_28_14():
    g = compile_graph(T2T, "t2t_vit_14")
    splits = [n.shape for n in g if n.op == "unfold"]
    assert splits == [(56 * 56, 3 * 7 * 7), (28 * 28, 64 * 9), (14 * 14, 64 * 9)]


def test_forward_runs():
    model = archdsl.build(T2T, "t2t_vit_14").eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)
