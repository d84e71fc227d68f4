"""ViTDet-B (plain ViT backbone + simple feature pyramid). No library has the whole model:

- the backbone is timm's samvit_base_patch16 trunk (window 14, global attention in blocks
  2, 5, 8, 11, decomposed relative positions; LayerNorm eps 1e-6 as in detectron2) except its
  position table: ViTDet keeps the 224-pretraining table (14x14 + class token) and resizes it
  bicubically, SAM learns one at full resolution. The output tests load our resized table into
  timm; `test_position_resize_equals_timm` checks the resize itself against timm's
  `resample_abs_pos_embed`;
- the pyramid is checked against `SimpleFeaturePyramid` below, written after detectron2's
  (projects/ViTDet: scale factors 4, 2, 1, 0.5, norm "LN", 256 channels, no top block).
"""

from __future__ import annotations

from functools import partial

import pytest
import timm
import torch
from torch import nn

import archdsl
from tests.conftest import meta_params, zoo

VITDET = zoo("vitdet.arch")


class LayerNorm(nn.Module):
    """detectron2's channels-first LayerNorm."""

    def __init__(self, c: int, eps: float = 1e-6):
        super().__init__()
        self.weight, self.bias, self.eps = nn.Parameter(torch.ones(c)), nn.Parameter(torch.zeros(c)), eps

    def forward(self, x):
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * (x - u) / torch.sqrt(s + self.eps) + self.bias[:, None, None]


class SimpleFeaturePyramid(nn.Module):
    def __init__(self, dim: int = 768, out: int = 256, scales=(4.0, 2.0, 1.0, 0.5)):
        super().__init__()
        self.stages = nn.ModuleList()
        for scale in scales:
            width, layers = dim, []
            if scale == 4.0:
                layers = [nn.ConvTranspose2d(dim, dim // 2, 2, 2), LayerNorm(dim // 2), nn.GELU(), nn.ConvTranspose2d(dim // 2, dim // 4, 2, 2)]
                width = dim // 4
            elif scale == 2.0:
                layers, width = [nn.ConvTranspose2d(dim, dim // 2, 2, 2)], dim // 2
            elif scale == 0.5:
                layers = [nn.MaxPool2d(2, 2)]
            layers += [nn.Conv2d(width, out, 1, bias=False), LayerNorm(out), nn.Conv2d(out, out, 3, padding=1, bias=False), LayerNorm(out)]
            self.stages.append(nn.Sequential(*layers))

    def forward(self, x):
        return tuple(stage(x) for stage in self.stages)


def trunk(size: int, depth: int = 12) -> nn.Module:
    return timm.create_model("samvit_base_patch16", pretrained=False, img_size=size, num_classes=0, depth=depth,
                             global_attn_indexes=[j for j in range(depth) if j % 3 == 2], norm_layer=partial(nn.LayerNorm, eps=1e-6))


def test_param_count_equals_backbone_plus_pyramid():
    def reference():  # timm's trunk without its neck and full-resolution positions, + the pyramid
        t = trunk(1024)
        return sum(p.numel() for n, p in t.named_parameters() if not n.startswith(("neck.", "pos_embed")))
    with torch.device("meta"):
        expected = reference() + (14 * 14 + 1) * 768 + sum(p.numel() for p in SimpleFeaturePyramid().parameters())
    assert meta_params(lambda: archdsl.build(VITDET, "base")) == expected
    assert archdsl.summary(VITDET, "base")["params"] == expected


def test_pyramid_shapes_at_1024():
    s = archdsl.summary(VITDET, "base")
    assert s["outputs"] == [[1, 256, 256, 256], [1, 256, 128, 128], [1, 256, 64, 64], [1, 256, 32, 32]]  # strides 4, 8, 16, 32


def check_outputs(depth: int, size: int = 256) -> None:
    """Float64, eval mode; at 256x256 the 16x16 grid needs padding to 28x28 for 14x14 windows."""
    torch.manual_seed(0)
    ours = archdsl.build(VITDET, "base", depth=depth, input_shape=(3, size, size)).double().eval()
    with torch.no_grad():
        for p in ours.parameters():  # no zero or unit weights that could hide a mis-mapped tensor
            p.add_(torch.randn_like(p) * 0.05)
    t, sfp = trunk(size, depth).double().eval(), SimpleFeaturePyramid().double().eval()
    x = torch.randn(1, 3, size, size, dtype=torch.float64)
    with torch.no_grad():
        pos = ours.stem(x) - ours.stem.patch_embed(x)  # our table, resized to the 16x16 grid
        mine = {k: v for k, v in ours.state_dict().items() if "pos_embed" not in k}
        theirs = [k for k in t.state_dict() if not k.startswith(("neck.", "pos_embed"))] + [f"sfp.{k}" for k in sfp.state_dict()]
        assert len(mine) == len(theirs)
        new = dict(zip(theirs, mine.values()))
        new["pos_embed"] = pos.reshape(1, size // 16, size // 16, 768)
        t.load_state_dict({**t.state_dict(), **{k: v for k, v in new.items() if not k.startswith("sfp.")}})
        sfp.load_state_dict({k[4:]: v for k, v in new.items() if k.startswith("sfp.")})
        features = t.blocks(t.patch_embed(x) + t.pos_embed)
        trunk_out = ours.forward_features(x)
        torch.testing.assert_close(trunk_out, features.reshape(1, -1, 768), rtol=1e-9, atol=1e-9)
        expected = sfp(features.permute(0, 3, 1, 2))
        got = ours.head(trunk_out)
    assert isinstance(got, tuple) and len(got) == 4
    for a, b in zip(got, expected):
        assert a.shape == b.shape
        assert ((a - b).abs().max() / b.abs().max()).item() < 1e-6
    assert [tuple(o.shape[1:]) for o in got] == [(256, 64, 64), (256, 32, 32), (256, 16, 16), (256, 8, 8)]


@pytest.mark.parametrize("size", [128, 224, 256, 448])
def test_position_resize_equals_timm(size):
    """Our bicubic resize of the 14x14 pretraining table (`pos_resized`) against an
    independent implementation: timm's `resample_abs_pos_embed`, with detectron2's settings
    (bicubic, align_corners=False, no antialiasing; the class token's row is carried along
    by timm and dropped by ViTDet). The output checks above load *our* resized table into
    timm, so they cannot see a wrong resize; this can."""
    from timm.layers import resample_abs_pos_embed

    torch.manual_seed(0)
    ours = archdsl.build(VITDET, "base", depth=1, input_shape=(3, size, size)).eval()
    (name, table), = [(k, v) for k, v in ours.named_parameters() if "pos_embed" in k]
    assert table.shape == (1, 14 * 14 + 1, 768), name
    with torch.no_grad():
        table.copy_(torch.randn_like(table))  # a table with structure at every position
        x = torch.randn(1, 3, size, size)
        resized = ours.stem(x) - ours.stem.patch_embed(x)  # what the stem adds to the patch tokens
    side = size // 16
    expected = resample_abs_pos_embed(table.detach(), new_size=[side, side], old_size=[14, 14], num_prefix_tokens=1,
                                      interpolation="bicubic", antialias=False)[:, 1:]
    assert resized.shape == expected.shape == (1, side * side, 768)
    torch.testing.assert_close(resized, expected, rtol=1e-5, atol=1e-5)  # timm interpolates in float32 too
    if side != 14:  # antialiasing (timm's default) is a different kernel: the check can tell them apart
        other = resample_abs_pos_embed(table.detach(), new_size=[side, side], old_size=[14, 14], num_prefix_tokens=1)[:, 1:]
        assert (resized - other).abs().max() > 1e-3


def test_outputs_equal_reference_three_blocks():
    check_outputs(depth=3)  # two windowed blocks and one global one, as in every third of ViT-B


@pytest.mark.slow
def test_outputs_equal_reference():
    check_outputs(depth=12)


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    model = archdsl.build(VITDET, "base", depth=3, input_shape=(3, 128, 128)).eval()  # blocks 0, 1 windowed, 2 global
    x = torch.randn(1, 3, 128, 128)
    with torch.no_grad():
        assert len(model(x)) == 4
        for a, b in zip(torch.compile(model, fullgraph=True, backend="eager")(x), model(x)):
            torch.testing.assert_close(a, b)
