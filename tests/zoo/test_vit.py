"""ViT: the same networks as timm's vit_tiny/small and torchvision's vit_b_16/l_16/b_32."""

from __future__ import annotations

import timm
import torch
import torchvision

import archdsl
from tests.conftest import zoo

VIT = zoo("vit.arch")
REFS = {
    "tiny": lambda: timm.create_model("vit_tiny_patch16_224", pretrained=False),
    "small": lambda: timm.create_model("vit_small_patch16_224", pretrained=False),
    "base": torchvision.models.vit_b_16,
    "large": torchvision.models.vit_l_16,
    "base32": torchvision.models.vit_b_32,
}


def test_base_macs_match_paper():
    # DeiT-B / ViT-B/16 at 224: 17.6 GFLOPs (multiply-accumulates) in the DeiT paper.
    assert abs(archdsl.summary(VIT, "base")["macs"] / 1e9 - 17.6) < 0.1


def test_tokens_and_module_names():
    s = archdsl.summary(VIT, "tiny")
    assert s["stages"][0]["output_shape"] == [1, 197, 192]  # 14 x 14 patches + class token
    names = dict(archdsl.build(VIT, "tiny").named_modules())
    assert {"stem.patch_embed.proj", "stages.0.blocks.11.attn.qkv", "stages.0.blocks.0.mlp.fc1", "head.fc"} <= set(names)


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    model = archdsl.build(VIT, "tiny").eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
