"""LeNet-5: no library has it, so the paper's figures are the reference (61,706 parameters)."""

from __future__ import annotations

import torch

import archdsl
from archdsl.api import compile_graph
from tests.conftest import meta_params, zoo

FILE = zoo("lenet.arch")


def test_params_equal_paper():
    assert archdsl.summary(FILE, "lenet5")["params"] == 61_706
    assert meta_params(lambda: archdsl.build(FILE, "lenet5")) == 61_706


def test_layer_shapes_follow_the_paper():
    g = compile_graph(FILE, "lenet5")
    shapes = [(n.token.split("(")[0].split("/")[0], n.shape) for n in g if n.op in ("conv", "avgpool", "fc")]
    assert shapes == [
        ("conv5", (6, 28, 28)),   # C1
        ("avgpool2", (6, 14, 14)),  # S2
        ("conv5", (16, 10, 10)),  # C3, every S2 map feeds every C3 map
        ("avgpool2", (16, 5, 5)),  # S4
        ("conv5", (120, 1, 1)),   # C5
        ("fc", (84,)),            # F6
        ("fc", (10,)),            # output
    ]


def test_forward_runs():
    m = archdsl.build(FILE, "lenet5").eval()
    with torch.no_grad():
        assert m(torch.randn(2, 1, 32, 32)).shape == (2, 10)
