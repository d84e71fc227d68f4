"""EfficientFormer (PoolFormer blocks on the image, then attention blocks on tokens whose keys
are narrower than their values, with a learned bias per token distance) equals timm's
efficientformer_l1 / l3 / l7.

The parameter counts and float64 outputs are the status table's claims, run by
tests/zoo/test_fidelity.py (l1 in the default suite, l3 and l7 in the slow one). Here: the
attention layer against timm's, where the blocks switch to tokens, the generated code, and
that the loader pairs every tensor with the timm tensor of the same name (an explicit
mapping), not only some pairing that happens to give equal outputs.
"""

from __future__ import annotations

import re

import timm
import torch
from timm.models.efficientformer import Attention

import archdsl
from tests.conftest import zoo
from tests.zoo.perturb import randomize_parameters

EFF = zoo("efficientformer.arch")

# our state-dict names -> timm's (applied in order)
RENAMES = [
    (r"^stem\.bn(\d)\.", r"stem.norm\1."),
    (r"\.down\.conv\.", ".downsample.conv."),
    (r"\.down\.bn\.", ".downsample.norm."),
    (r"\.meta[34]d1\.gamma(\d)$", r".ls\1.gamma"),
    (r"\.meta4d1\.pwconv(\d)\.", r".mlp.fc\1."),
    (r"\.meta4d1\.bn(\d)\.", r".mlp.norm\1."),
    (r"\.meta3d1\.attn\.bias\.", ".token_mixer."),
    (r"\.meta3d1\.attn\.qkv\.", ".token_mixer.qkv."),
    (r"\.meta3d1\.attn\.fc\.", ".token_mixer.proj."),
    (r"\.meta3d1\.", "."),
    (r"^head\.norm\.", "norm."),
    (r"^head\.distilled\.fc1\.", "head."),
    (r"^head\.distilled\.fc2\.", "head_dist."),
]


def timm_name(key: str) -> str:
    if ".meta3d1." in key:  # timm's `Flat` is a block of its own, before the first attention block
        key = re.sub(r"blocks\.(\d+)\.", lambda m: f"blocks.{int(m.group(1)) + 1}.", key)
    for pattern, repl in RENAMES:
        key = re.sub(pattern, repl, key)
    return key


def test_attention_keys_are_narrower_than_values_and_equal_timm():
    model = archdsl.build(EFF, "l1")
    ours = model.stages[3].blocks[3].meta3d1.attn.double()
    assert ours.qkv.out_features == 8 * (32 + 32 + 4 * 32) and ours.fc.in_features == 8 * 4 * 32
    ref = Attention(448, key_dim=32, num_heads=8, attn_ratio=4, resolution=7).double()
    randomize_parameters(ref)  # the bias table starts at zero: give it values
    with torch.no_grad():
        ours.bias.attention_biases.copy_(ref.attention_biases)
        for a, b in ((ours.qkv, ref.qkv), (ours.fc, ref.proj)):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
    ref.eval()
    torch.testing.assert_close(ours.bias(), ref.get_attention_biases(torch.device("cpu")), rtol=0, atol=0)
    x = torch.randn(2, 49, 448, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-10, atol=1e-12)


def test_the_last_blocks_of_the_last_stage_run_on_tokens():
    shapes = [s["output_shape"] for s in archdsl.summary(EFF, "l3")["stages"]]
    assert shapes[3:] == [[1, 320, 14, 14], [1, 49, 512], [1, 1000]]
    names = [n for n, _ in archdsl.build(EFF, "l3").named_modules()]
    attention = sorted({n.split(".meta3d1")[0] for n in names if ".meta3d1.attn" in n})
    assert attention == [f"stages.3.blocks.{j}" for j in range(2, 6)]  # the last 4 of 6 (num_vit=4)


def test_generated_code_reads_as_the_file(tmp_path):
    source = archdsl.to_source(EFF, "l1")
    assert "q, k, v = qkv.unflatten(2, (8, -1)).permute(0, 2, 1, 3).split([32, 32, 128], -1)" in source
    assert "F.scaled_dot_product_attention(q, k, v, attn_mask=bias)" in source
    assert "3, stride=1, padding=1, count_include_pad=False" in source  # pool_mix's AvgPool2d
    assert "return self.avgpool(x) - x" in source
    assert "return (self.fc1(x) + self.fc2(x)) / 2" in source  # timm's eval forward: the two heads averaged


def test_loader_pairs_each_tensor_with_timms_of_the_same_name():
    torch.manual_seed(0)
    ref = timm.create_model("efficientformer_l1", pretrained=False)
    ours = archdsl.build(EFF, "l1")
    mapping = archdsl.load_reference(ours, ref)
    expected = {k: timm_name(k) for k in ours.state_dict() if not k.endswith("num_batches_tracked")}
    assert set(expected.values()) <= set(ref.state_dict())
    assert dict(mapping) == expected
