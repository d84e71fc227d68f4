"""PVT v2 is the same network as timm's pvt_v2_b0 ... b5."""

from __future__ import annotations

import pytest
import timm
import torch

import archdsl
from tests.conftest import assert_same_outputs, meta_params, zoo
from tests.zoo.perturb import randomize_parameters

VARIANTS = ["b0", "b1", "b2", "b3", "b4", "b5"]


@pytest.mark.parametrize("variant", VARIANTS)
def test_param_count_equals_reference(variant):
    expected = meta_params(lambda: timm.create_model(f"pvt_v2_{variant}", pretrained=False))
    assert meta_params(lambda: archdsl.build(zoo("pvt_v2.arch"), variant)) == expected
    assert archdsl.summary(zoo("pvt_v2.arch"), variant)["params"] == expected


def test_outputs_equal_reference_after_weight_transfer():
    torch.manual_seed(0)
    reference = timm.create_model("pvt_v2_b0", pretrained=False)
    randomize_parameters(reference)
    ours = archdsl.build(zoo("pvt_v2.arch"), "b0")
    archdsl.load_reference(ours, reference)
    assert_same_outputs(ours, reference, (3, 224, 224))


def test_macs_match_paper():
    # PVT v2 Table 1 GFLOPs: B0 0.6, B1 2.1, B2 4.0, B5 11.8
    for variant, paper in (("b0", 0.6), ("b1", 2.1), ("b2", 4.0), ("b5", 11.8)):
        macs = archdsl.summary(zoo("pvt_v2.arch"), variant)["macs"]
        assert abs(macs / 1e9 - paper) / paper < 0.06


def test_reduction_only_where_sr_above_one():
    m = archdsl.build(zoo("pvt_v2.arch"), "b0")
    assert m.stages[0].blocks[0].attn.sr.kernel_size == (8, 8)
    assert m.stages[3].blocks[0].attn.sr is None


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    model = archdsl.build(zoo("pvt_v2.arch"), "b0").eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.slow
def test_b2_outputs():
    reference = timm.create_model("pvt_v2_b2", pretrained=False)
    randomize_parameters(reference)
    ours = archdsl.build(zoo("pvt_v2.arch"), "b2")
    archdsl.load_reference(ours, reference)
    assert_same_outputs(ours, reference, (3, 224, 224))
