"""AlexNet equals torchvision."""

from __future__ import annotations

import torch
import torchvision

import archdsl
from tests.conftest import assert_same_outputs, meta_params, zoo

FILE = zoo("alexnet.arch")


def test_params_equal_reference():
    expected = meta_params(torchvision.models.alexnet)
    assert archdsl.summary(FILE, "alexnet")["params"] == expected
    assert meta_params(lambda: archdsl.build(FILE, "alexnet")) == expected


def test_outputs_equal_reference():
    torch.manual_seed(0)
    ref = torchvision.models.alexnet()
    ours = archdsl.build(FILE, "alexnet")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))
