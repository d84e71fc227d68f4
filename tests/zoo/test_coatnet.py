"""CoAtNet-0 (timm coatnet_0_rw_224), written in `.arch` alone: its attention is a `layer`
built from primitives. Params and float64 outputs of the whole network: tests/zoo/test_fidelity.py
(archdsl/zoo_status.py); here the attention layer against timm's module, the weight pairing
and the structure."""

from __future__ import annotations

import re
from functools import partial

import timm
import torch
from timm.layers.pos_embed_rel import RelPosBias
from timm.models.maxxvit import Attention2d

import archdsl
from tests.conftest import zoo

COATNET = zoo("coatnet.arch")


def test_attention_layer_equals_timms_attention2d():
    """`attn2d` (conv1, rearrange, chunk, attention with a relpos bias) is timm's Attention2d
    with its RelPosBias: the same parameter names and, in float64, the same outputs."""
    ours = archdsl.build(COATNET, "0").stages[2].blocks[1].attn2d.double()
    ref = Attention2d(384, 384, dim_head=32, expand_first=False, rel_pos_cls=partial(RelPosBias, window_size=(14, 14))).double()
    torch.manual_seed(0)
    for p in ref.parameters():
        torch.nn.init.normal_(p, std=0.1)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 384, 14, 14, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-10, atol=1e-12)


def test_weights_pair_with_timms_in_order():
    ours = archdsl.build(COATNET, "0")
    mapping = archdsl.load_reference(ours, timm.create_model("coatnet_0_rw_224", pretrained=False))
    assert mapping["stages.0.blocks.0.shortcut1.pwconv.weight"] == "stages.0.blocks.0.shortcut.expand.weight"
    assert mapping["stages.2.blocks.0.attn2d.rel_pos.relative_position_bias_table"] == \
        "stages.2.blocks.0.attn.rel_pos.relative_position_bias_table"
    assert mapping["stages.3.blocks.1.pwconv2.bias"] == "stages.3.blocks.1.mlp.fc2.bias"


def test_each_stage_halves_the_map_in_its_first_block_on_both_paths():
    model = archdsl.build(COATNET, "0")
    for stage in model.stages:
        first, rest = stage.blocks[0], list(stage.blocks)[1:]
        assert isinstance(first.avgpool, torch.nn.AvgPool2d) and isinstance(first.shortcut1.avgpool, torch.nn.AvgPool2d)
        assert all(not any(isinstance(m, torch.nn.AvgPool2d) for m in b.modules()) for b in rest)  # no pooling on either path
    s = archdsl.summary(COATNET, "0")
    assert [st["output_shape"][1:] for st in s["stages"][1:5]] == [[96, 56, 56], [192, 28, 28], [384, 14, 14], [768, 7, 7]]
    # the relative-position tables cover the whole map: 27x27 offsets at 14x14, 13x13 at 7x7
    assert model.stages[2].blocks[0].attn2d.rel_pos.relative_position_bias_table.shape == (27 * 27, 6)
    assert model.stages[3].blocks[1].attn2d.rel_pos.relative_position_bias_table.shape == (13 * 13, 24)


def test_generated_classes_one_per_block_and_map_size():
    source = archdsl.to_source(COATNET, "0")
    code = re.sub(r"\s+", "", re.sub(r"#.*", "", source))  # without comments (they hold the path) and spaces
    assert source.count("class Mbconv(") == 1  # the strided first block is the same class, with flags
    assert "self.qkv=nn.Conv2d(c,3*c,kernel_size=1)" in code and "self.proj=nn.Conv2d(c,out,kernel_size=1)" in code
    assert "RelPosBias(c//32,14,14)" in code and "RelPosBias(c//32,7,7)" in code


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    model = archdsl.build(COATNET, "0").eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
