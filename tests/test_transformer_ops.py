"""Token and attention layer kinds: shapes, costs, the structures they need, weight pairing."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archdsl
from archdsl.errors import ArchError
from archdsl.weights import load_reference

HEADER = "arch t(classes=10)\ninput 3x32x32\n"


def header(body: str) -> str:
    """The header, declaring `classes` only where the body reads it."""
    return HEADER if "classes" in body else HEADER.replace("classes=10", "")


def build(body: str, **kw):
    return archdsl.build(header(body) + body, **kw)


def count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("layer", ["mhsa(4)", "talking(4)", "reattn(4)", "xca(4)", "mhsa(2, head_dim=8, qkv_bias=false)",
                                   "token_mlp0.5", "ca(4, keep=true)"])
def test_param_rule_equals_built_module(layer):
    text = f"stem patch_embed(32, 4) cls_token pos_embed\nstage [ln {layer}] x2\nhead ln cls fc(classes)\n"
    assert archdsl.summary(header(text) + text)["params"] == count(build(text))


def test_attention_macs_count_the_two_matmuls():
    s = archdsl.summary(header("") + "stem patch_embed(32, 4)\nhead mhsa(4)\n")
    n, c = 64, 32
    patch = n * 32 * 3 * 16
    assert s["macs"] - patch == n * c * 3 * c + 2 * n * n * c + n * c * c


def test_sdpa_attention_equals_explicit_softmax():
    torch.manual_seed(0)
    m = build("stem patch_embed(32, 4)\nhead mhsa(4)\n").eval()
    attn = m.head.attn
    x = torch.randn(2, 64, 32)
    q, k, v = attn.qkv_heads(x)
    w = (q @ k.transpose(-2, -1) / 8**0.5).softmax(-1)
    expected = attn.proj((w @ v).transpose(1, 2).reshape(2, 64, 32))
    torch.testing.assert_close(attn(x), expected)


def test_residual_to_class_token_updates_token_zero_only():
    m = build("stem patch_embed(32, 4) cls_token\nblock b:\n    residual(cls=true): cls fc(32)\nstage b\n").eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        tokens = m.stem(x)
        out = m(x)
        fc = m.stages[0].blocks[0].fc
    torch.testing.assert_close(out[:, 1:], tokens[:, 1:])
    torch.testing.assert_close(out[:, 0], tokens[:, 0] + fc(tokens[:, 0]))


def test_dist_token_goes_after_the_class_token():
    m = build("stem patch_embed(8, 8) cls_token dist_token\n")
    with torch.no_grad():
        m.stem.cls_token.fill_(1.0)
        m.stem.dist_token.fill_(2.0)
        out = m(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 18, 8)
    assert torch.all(out[0, 0] == 1) and torch.all(out[0, 1] == 2)


def test_scale_skip_leaves_leading_tokens():
    m = build("stem patch_embed(8, 8) cls_token scale(2, skip=1)\n")
    with torch.no_grad():
        tokens = m.stem.patch_embed(torch.ones(1, 3, 32, 32))
        out = m(torch.ones(1, 3, 32, 32))
    torch.testing.assert_close(out[:, 1:], 2 * tokens)
    torch.testing.assert_close(out[:, 0], m.stem.cls_token[:, 0].detach())


def test_repeat_count_after_a_call_parses():
    text = "block b(w):\n    conv3(w) relu\nstem b(8) x2 conv3(4) x3\n"
    assert archdsl.summary(header(text) + text)["nodes"] == 7


def test_sincos_position_embedding_is_fixed():
    m = build("stem patch_embed(16, 4) cls_token pos_sincos(skip=1)\n")
    assert count(m) == 16 * 3 * 16 + 16 + 16  # conv + class token; no learned positions
    assert "stem.pos_embed.pos" not in m.state_dict()


@pytest.mark.parametrize("text,message", [
    ("stem conv3(8) mhsa(2)\n", "attends over a token sequence"),
    ("stem patch_embed(30, 4) mhsa(4)\n", "4 heads do not divide 30 channels"),
    ("stem conv3(8) cls\n", "needs a token sequence"),
    ("stem patch_embed(8, 4) token_mlp\n", "needs a size"),
    ("stem patch_embed(8, 4)\nblock b:\n    residual(cls=true): ln mlp4\nstage b\n", "adds a single token"),
    ("stem patch_embed(8, 4) cls_token\nblock b:\n    patches: conv1(4)\nstage b\n", "must end with an image of 8 channels"),
])
def test_user_mistakes_are_arch_errors(text, message):
    with pytest.raises(ArchError, match=message):
        archdsl.summary(header(text) + text)


def test_weight_pairing_moves_uniquely_shaped_tensors():
    class Ref(nn.Module):  # torchvision's order: class token, patch conv, then positions
        def __init__(self):
            super().__init__()
            self.class_token = nn.Parameter(torch.randn(1, 1, 8))
            self.conv_proj = nn.Conv2d(3, 8, 8, 8)
            self.pos_embedding = nn.Parameter(torch.randn(1, 17, 8))

        def forward(self, x):
            x = self.conv_proj(x).flatten(2).transpose(1, 2)
            return torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embedding

    ours = build("stem patch_embed(8, 8) cls_token pos_embed\n")
    ref = Ref()
    mapping = load_reference(ours, ref)  # verified: the same tokens
    assert mapping["stem.pos_embed"] == "pos_embedding"
    assert torch.equal(ours.stem.patch_embed.proj.weight, ref.conv_proj.weight)
