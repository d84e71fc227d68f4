"""Swin v1 and v2 are the same networks as torchvision's swin_t/s/b and swin_v2_t/s/b."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from tests.conftest import assert_same_outputs, zoo
from tests.zoo.perturb import randomize_parameters

SWIN = [("swin.arch", v, f) for v, f in (("tiny", "swin_t"), ("small", "swin_s"), ("base", "swin_b"))]
SWIN_V2 = [("swin_v2.arch", v, f) for v, f in (("tiny", "swin_v2_t"), ("small", "swin_v2_s"), ("base", "swin_v2_b"))]


def test_shifted_blocks_alternate_and_mask_only_where_shifted():
    m = archdsl.build(zoo("swin.arch"), "tiny")
    shifts = [blk.attn.shift for blk in m.stages[2].blocks]
    assert shifts == [(0, 0), (3, 3)] * 3
    assert m.stages[2].blocks[1].attn.attn_mask.shape == (4, 1, 49, 49)  # 14x14 map: 2x2 windows
    assert m.stages[2].blocks[0].attn.attn_mask is None
    # the last stage is one 7x7 window: torchvision does not shift there
    assert [blk.attn.shift for blk in m.stages[3].blocks] == [(0, 0), (0, 0)]


def test_non_square_input_shifts_only_along_the_long_axis():
    # 224x448: the last stage is 7x14, one window high, so torchvision shifts along W only
    torch.manual_seed(0)
    reference = torchvision.models.swin_t()
    randomize_parameters(reference)
    ours = archdsl.build(zoo("swin.arch"), "tiny", input_shape=(3, 224, 448))
    assert ours.stages[3].blocks[1].attn.shift == (0, 3)
    archdsl.load_reference(ours, reference)
    assert_same_outputs(ours, reference, (3, 224, 448))


def test_macs_match_paper():
    # Swin-T: 4.5 GFLOPs, Swin-S: 8.7, Swin-B: 15.4 (Table 1)
    for variant, paper in (("tiny", 4.5), ("small", 8.7), ("base", 15.4)):
        macs = archdsl.summary(zoo("swin.arch"), variant)["macs"]
        assert abs(macs / 1e9 - paper) / paper < 0.02


def test_module_names_mirror_structure():
    names = dict(archdsl.build(zoo("swin_v2.arch"), "tiny").named_modules())
    assert {"stages.1.down.pwconv", "stages.2.blocks.3.attn.cpb_mlp", "stages.0.blocks.1.mlp.fc1", "head.fc"} <= set(names)


@pytest.mark.parametrize("file,res", [("swin.arch", 224), ("swin_v2.arch", 256)])
def test_torch_compile_fullgraph(file, res):
    torch._dynamo.reset()
    model = archdsl.build(zoo(file), "tiny").eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(1, 3, res, res)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
