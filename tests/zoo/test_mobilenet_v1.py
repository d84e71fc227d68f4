"""MobileNet v1 (depthwise separable blocks) equals timm mobilenetv1_100."""

from __future__ import annotations

import timm
import torch

import archdsl
from tests.conftest import assert_same_outputs, meta_params, randomize_batchnorm, zoo

FILE = zoo("mobilenet_v1.arch")


def test_params_equal_reference():
    expected = meta_params(lambda: timm.create_model("mobilenetv1_100", pretrained=False))
    assert archdsl.summary(FILE, "mobilenetv1_100")["params"] == expected
    assert meta_params(lambda: archdsl.build(FILE, "mobilenetv1_100")) == expected


def test_outputs_equal_reference():
    torch.manual_seed(0)
    ref = timm.create_model("mobilenetv1_100", pretrained=False)
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, "mobilenetv1_100")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))
