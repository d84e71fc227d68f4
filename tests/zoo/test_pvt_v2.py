"""PVT v2 is the same network as timm's pvt_v2_b0 ... b5."""

from __future__ import annotations

import torch

import archdsl
from tests.conftest import zoo

VARIANTS = ["b0", "b1", "b2", "b3", "b4", "b5"]


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
