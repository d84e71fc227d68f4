"""MaxViT (zoo/maxvit.arch, written in `.arch` alone: its attention from tensor primitives)
is timm's maxvit_tiny_tf_224: the parameter count and the float64 outputs at 224 are
claims of archdsl/zoo_status.py (tests/zoo/test_fidelity.py, the latter in the slow suite,
its float64 depthwise convolutions being slow on CPU). Here: the same structure at small
widths against timm's own configuration of those widths, at 224 (7 x 7 windows and grid)
and at 64 (2 x 2), in the default suite; the paper's figures; the generated classes."""

from __future__ import annotations

import pytest
import timm
import torch

import archdsl
from tests.conftest import assert_same_outputs, randomize_batchnorm, zoo
from tests.zoo.perturb import randomize_parameters

MAXVIT = zoo("maxvit.arch")
SMALL = {"dims": [32, 64, 64, 64], "depths": [1, 2, 1, 1], "stem": 32}  # 1, 2, 2, 2 heads of 32


def small_reference(res: int):
    """timm's MaxViT-T (TF port) at the widths of SMALL, through its own configuration overrides."""
    return timm.create_model("maxvit_tiny_tf_224", pretrained=False, img_size=res, embed_dim=tuple(SMALL["dims"]),
                             depths=tuple(SMALL["depths"]), stem_width=SMALL["stem"], head_hidden_size=SMALL["dims"][-1])


@pytest.mark.parametrize("res", [224, 64])
def test_small_widths_equal_timm(res):
    torch.manual_seed(0)
    ref = small_reference(res)
    randomize_parameters(ref)
    randomize_batchnorm(ref)
    ours = archdsl.build(MAXVIT, "tiny", res=res, **SMALL)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    mapping = archdsl.load_reference(ours, ref)
    # the loader pairs modules in order: the shortcut's 1x1 conv, which timm registers first, by its shape
    assert mapping["stages.1.blocks.0.mbconv1.pwconv3.weight"] == "stages.1.blocks.0.conv.shortcut.expand.weight"
    assert mapping["stages.2.blocks.0.grid_attn.attn.rel_pos.relative_position_bias_table"] == \
        "stages.2.blocks.0.attn_grid.attn.rel_pos.relative_position_bias_table"
    assert_same_outputs(ours, ref, (3, res, res))


def test_paper_figures_and_shapes():
    s = archdsl.summary(MAXVIT, "tiny")
    assert s["params"] == 30_916_528  # timm maxvit_tiny_tf_224; the paper's Table 1: 31M
    assert abs(s["macs"] / 1e9 - 5.6) < 0.1  # Table 1: MaxViT-T 5.6 GFLOPs at 224
    assert [st["output_shape"][1:] for st in s["stages"][1:5]] == [[64, 56, 56], [128, 28, 28], [256, 14, 14], [512, 7, 7]]


def test_window_and_grid_follow_the_input_size():
    model = archdsl.build(MAXVIT, "tiny", res=384)  # timm maxvit_tiny_tf_384: 12 x 12 partitions
    table = model.stages[0].blocks[0].block_attn.attn.rel_pos.relative_position_bias_table
    assert table.shape == (2, 23, 23)
    assert sum(p.numel() for p in model.parameters()) == sum(
        p.numel() for p in timm.create_model("maxvit_tiny_tf_384", pretrained=False).parameters())


def test_generated_classes():
    source = archdsl.to_source(MAXVIT, "tiny")
    for cls in ("Attn", "BlockAttn", "GridAttn"):  # one class each, whatever the stage width and heads
        assert source.count(f"class {cls}(nn.Module)") == 1
    assert "self.qkv = nn.Linear(c, 3 * c)" in source
    assert 'heads, 7, 7, kind="axial"' in source  # RelPosBias(...): one table per block, the heads its argument
    assert "F.scaled_dot_product_attention(" in source


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    model = archdsl.build(MAXVIT, "tiny", res=64, **SMALL).eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


def _rates(model: torch.nn.Module) -> list[float]:
    """The stochastic-depth rate of each DropPath, in module order (timm writes nn.Identity at 0)."""
    out = []
    for m in model.modules():
        if type(m).__name__ == "DropPath":
            rate = float(getattr(m, "p", getattr(m, "drop_prob", 0.0)))
            if rate > 0:
                out.append(rate)
    return out


def test_stochastic_depth_is_timms():
    # timm's drop_path_rate: one rate per MaxViT block, rising linearly, on the MBConv branch
    # (drop_path(x) + shortcut) and on each of the four attention / MLP residuals
    ours = archdsl.build(MAXVIT, "tiny", drop_path=0.2)
    ref = timm.create_model("maxvit_tiny_tf_224", pretrained=False, drop_path_rate=0.2)
    assert len(_rates(ours)) == 5 * (sum([2, 2, 5, 2]) - 1)
    assert _rates(ours) == pytest.approx(_rates(ref), rel=1e-6)  # timm's rates are float32 linspace values
    archdsl.register_timm()
    assert _rates(timm.create_model("archdsl_maxvit_tiny", drop_path_rate=0.2)) == _rates(ours)  # through timm's API
    assert _rates(archdsl.build(MAXVIT, "tiny")) == []  # timm's default: none
