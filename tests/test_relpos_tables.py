"""The `relpos` primitive's tables (archdsl/runtime/relative.py `RelPosBias`) equal timm's,
on a window that is not square (3 x 5), so that rows and columns cannot be swapped unseen:

- kind "axial" is timm's `RelPosBiasTf` (the TF MaxViT port: a heads x (2h-1) x (2w-1)
  table, indexed by key - query), checked inside the attention MaxViT uses it in;
- kind "offset" is timm's `RelPosBias` (Swin's (2h-1)(2w-1) x heads table, query - key).
"""

from __future__ import annotations

from functools import partial

import torch
from timm.layers.pos_embed_rel import RelPosBias as TimmRelPosBias
from timm.layers.pos_embed_rel import RelPosBiasTf
from timm.models.maxxvit import AttentionCl

import archdsl
from archdsl.runtime.relative import RelPosBias

ATTN_TF = """\
arch t()
input 3x12x20
layer attn(heads):              # MaxViT's attention (TF port): q, k, v channels (heads, d)
    q, k, v = chunk(fc(x, 3 * c), 3, -1)
    q = rearrange(q, "l (h d) -> h l d", h=heads)
    k = rearrange(k, "l (h d) -> h l d", h=heads)
    v = rearrange(v, "l (h d) -> h l d", h=heads)
    o = attention(q, k, v, bias=relpos(heads, 3, 5, kind="axial"))
    fc(rearrange(o, "h l d -> l (h d)"), c)
stem patch_embed(32, 4) attn(4)
head gap fc(3)
"""


def test_axial_bias_in_attention_equals_timm_maxvit_tf():
    model = archdsl.build(ATTN_TF)
    ours = next(m for n, m in model.named_modules() if n.endswith("attn")).double()
    ref = AttentionCl(32, dim_head=8, head_first=False, rel_pos_cls=partial(RelPosBiasTf, window_size=(3, 5))).double()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype))
    mapping = archdsl.load_reference(ours, ref, input_shape=(15, 32))  # a layer alone: say its input
    assert mapping["rel_pos.relative_position_bias_table"] == "rel_pos.relative_position_bias_table"
    x = torch.randn(2, 15, 32, dtype=torch.float64, generator=g)  # 3 x 5 tokens, row by row
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-10, atol=1e-12)


def _random_table(module, g):
    with torch.no_grad():
        module.relative_position_bias_table.copy_(torch.randn(module.relative_position_bias_table.shape, generator=g))


def test_axial_table_equals_timm_relposbiastf():
    g = torch.Generator().manual_seed(1)
    ours, ref = RelPosBias(2, 3, 5, kind="axial"), RelPosBiasTf((3, 5), num_heads=2)
    assert ours.relative_position_bias_table.shape == ref.relative_position_bias_table.shape == (2, 5, 9)
    _random_table(ref, g)
    ours.load_state_dict(ref.state_dict())
    torch.testing.assert_close(ours(), ref.get_bias(), rtol=0, atol=0)  # heads x N x N


def test_offset_table_equals_timm_relposbias():
    g = torch.Generator().manual_seed(2)
    ours, ref = RelPosBias(2, 3, 5, kind="offset"), TimmRelPosBias((3, 5), num_heads=2)
    assert ours.relative_position_bias_table.shape == ref.relative_position_bias_table.shape == (45, 2)
    _random_table(ref, g)
    ours.load_state_dict(ref.state_dict())
    torch.testing.assert_close(ours(), ref.get_bias()[0], rtol=0, atol=0)  # timm: 1 x heads x N x N
