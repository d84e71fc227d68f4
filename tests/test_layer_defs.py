"""Layers written in `.arch` from tensor primitives (`layer NAME(params): ...`).

Each test writes a layer the way a paper states it and checks it against the module
people trust (timm), float64, after copying its weights: the same outputs, and the same
parameters. The generated source is the module `build` runs.
"""

from __future__ import annotations

import pytest
import torch
from timm.layers.grn import GlobalResponseNorm
from timm.models.mlp_mixer import SpatialGatingUnit
from timm.models.vision_transformer import Attention

import archdsl
from archdsl.cli import main
from archdsl.errors import ArchError
from archdsl.syntax.format import format_source

GRN = """\
layer grn(eps=1e-6):                    # ConvNeXt V2's global response normalization
    gamma = param(c, 1, 1)
    beta = param(c, 1, 1)
    n = norm2(x, "hw")                  # C x 1 x 1: the L2 norm of each channel's map
    n = n / (mean(n, "c") + eps)
    x + gamma * (x * n) + beta
"""

SGU = """\
layer sgu:                              # gMLP's spatial gating unit: tokens mixed by a linear over the sequence
    u, v = chunk(x, 2, -1)
    v = ln(v)
    v = transpose(fc(transpose(v), l))
    u * v
"""

MHSA = """\
layer attn(heads):                      # multi-head self-attention, as ViT
    q, k, v = chunk(fc(x, 3 * c), 3, -1)
    q = rearrange(q, "l (h d) -> h l d", h=heads)
    k = rearrange(k, "l (h d) -> h l d", h=heads)
    v = rearrange(v, "l (h d) -> h l d", h=heads)
    o = rearrange(attention(q, k, v), "h l d -> l (h d)")
    fc(o, c)
"""


SPLIT_ATTN = """\
layer attn(heads=2, kd=4, r=2):         # keys kd wide, values r * kd (EfficientFormer, LeViT)
    qkv = fc(x, heads * (2 + r) * kd)
    q, k, v = split(rearrange(qkv, "l (h d) -> h l d", h=heads), [kd, kd, r * kd], -1)
    o = attention(q, k, v)
    fc(rearrange(o, "h l d -> l (h d)"), c)
"""

POOL_MIX = """\
layer pool_mix:                         # PoolFormer's token mixer
    avgpool3(x, stride=1, count_pad=false) - x
"""


def net(layers: str, body: str, input_shape: str = "8x6x6", head: str = "head gap fc(3)") -> str:
    return f"arch t()\ninput {input_shape}\n{layers}stem {body}\n{head}\n"


def tokens(layers: str, body: str) -> str:
    """A network on 16 tokens of width 32 (or 8): a 4x4 patch embedding, then `body`."""
    width = 8 if "sgu" in body else 32
    return f"arch t()\ninput 3x16x16\n{layers}stem patch_embed({width}, 4) {body}\nhead gap fc(3)\n"


def copy_in_order(ours: torch.nn.Module, ref: torch.nn.Module, reshape: bool = False) -> None:
    a, b = list(ours.parameters()), list(ref.parameters())
    assert len(a) == len(b)
    with torch.no_grad():
        for p, q in zip(a, b):
            assert p.numel() == q.numel() and (reshape or p.shape == q.shape), (p.shape, q.shape)
            p.copy_(q.reshape(p.shape))


def only_child(model: torch.nn.Module, name: str) -> torch.nn.Module:
    found = [m for n, m in model.named_modules() if n.endswith(name)]
    assert len(found) == 1, [n for n, _ in model.named_modules()]
    return found[0]


def test_grn_equals_timm():
    model = archdsl.build(net(GRN, "grn"))
    ours = only_child(model, "grn").double()
    ref = GlobalResponseNorm(8, eps=1e-6, channels_last=False).double()
    torch.nn.init.normal_(ref.weight)
    torch.nn.init.normal_(ref.bias)
    copy_in_order(ours, ref, reshape=True)
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)
    assert {n for n, _ in ours.named_parameters()} == {"gamma", "beta"}


def test_spatial_gating_equals_timm():
    model = archdsl.build(tokens(SGU, "sgu"))
    ours = only_child(model, "sgu").double()
    ref = SpatialGatingUnit(8, 16).double()
    ref.init_weights()
    torch.nn.init.normal_(ref.proj.weight)
    copy_in_order(ours, ref)
    x = torch.randn(2, 16, 8, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)


def test_attention_equals_timm():
    model = archdsl.build(tokens(MHSA, "attn(4)"))
    ours = only_child(model, "attn").double()
    ref = Attention(32, num_heads=4, qkv_bias=True).double()
    copy_in_order(ours, ref)
    x = torch.randn(2, 16, 32, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-10, atol=1e-12)


def test_split_cuts_parts_of_the_given_sizes():
    model = archdsl.build(tokens(SPLIT_ATTN, "attn"))
    ours = only_child(model, "attn").double()
    x = torch.randn(2, 16, 32, dtype=torch.float64)
    qkv = ours.qkv(x).reshape(2, 16, 2, 16).transpose(1, 2)  # timm's EfficientFormer Attention, step by step
    q, k, v = qkv[..., :4], qkv[..., 4:8], qkv[..., 8:]
    o = ((q @ k.transpose(-2, -1)) * 4 ** -0.5).softmax(-1) @ v
    ref = ours.fc(o.transpose(1, 2).reshape(2, 16, 16))
    torch.testing.assert_close(ours(x), ref, rtol=1e-12, atol=1e-12)
    assert (ours.qkv.out_features, ours.fc.in_features) == (32, 16)


def test_split_is_one_tuple_assignment_in_the_generated_forward():
    source = archdsl.to_source(tokens(SPLIT_ATTN, "attn"))
    body = source[source.index("class Attn"):source.index("class T(")]
    assert "q, k, v = qkv.unflatten(2, (2, -1)).permute(0, 2, 1, 3).split([4, 4, 8], -1)" in body


def test_a_stride_is_a_keyword_inside_an_expression():
    source = archdsl.to_source(net(POOL_MIX, "pool_mix"))
    assert "nn.AvgPool2d(" in source and "3, stride=1, padding=1, count_include_pad=False" in source
    mix = only_child(archdsl.build(net(POOL_MIX, "pool_mix")), "pool_mix").double()
    x = torch.randn(2, 8, 6, 6, dtype=torch.float64)
    pool = torch.nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False)  # timm's PoolFormer Pooling
    torch.testing.assert_close(mix(x), pool(x) - x)
    strided = "layer down:\n    conv3(x, 16, stride=2)\n"
    assert archdsl.summary(net(strided, "down"))["stages"][0]["output_shape"] == [1, 16, 3, 3]
    plain = "layer widen:\n    conv1(x, 16)\n"  # a strided token without the keyword keeps stride 1
    assert archdsl.summary(net(plain, "widen"))["stages"][0]["output_shape"] == [1, 16, 6, 6]


def test_layer_in_a_stage_block_is_one_class_with_the_width_as_argument():
    text = net(GRN, "conv3(16)", "3x16x16").replace("head gap fc(3)", "stage dw7 ln pw(4*c) gelu grn pw(c) x[1,1]\nhead gap fc(3)")
    text = text.replace("arch t()", "arch t(dims=[16, 32])")
    source = archdsl.to_source(text)
    assert source.count("class Grn(nn.Module)") == 1
    assert "self.grn = Grn(4 * c)" in source
    model = archdsl.build(text)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 3)
    params = sum(p.numel() for p in model.parameters())
    assert params == archdsl.summary(text)["params"]


AFFINE = """\
layer affine:                           # ResMLP's affine "norm": alpha * x + beta, per channel
    alpha = param(c, init=1)
    beta = param(c)
    alpha * x + beta

layer times(k):
    x * k
"""


def test_a_layer_in_a_block_and_in_the_head_is_one_class():
    """Classes are made level by level: the head's `affine` joins the stage block's class
    (same arguments); `times(3)` computes another forward than `times(2)`, so it keeps a class of its own."""
    text = (f"arch t()\ninput 3x16x16\n{AFFINE}block b:\n    residual: affine times(2) mlp4\n"
            "stem patch_embed(8, 4)\nstage b x2\nhead affine times(3) gap fc(3)\n")
    source = archdsl.to_source(text)
    assert source.count("class Affine") == 1
    assert "self.affine = Affine(in_channels)" in source and "self.head.affine = Affine(8)" in source
    assert "class Times(nn.Module)" in source and "class Times2(nn.Module)" in source
    assert "return x * 2" in source and "return x * 3" in source
    model = archdsl.build(text)
    assert type(model.head.affine) is type(model.stages[0].blocks[1].affine)
    assert model(torch.randn(2, 3, 16, 16)).shape == (2, 3)


def test_generated_forward_reads_as_the_body():
    source = archdsl.to_source(net(GRN, "grn"))
    body = source[source.index("class Grn"):source.index("class T(")]
    assert "n = n / (n.mean(1, keepdim=True) + 1e-06)" in body
    assert "return x + self.gamma * (x * n) + self.beta" in body


def test_compiles_whole():
    model = archdsl.build(net(GRN + SGU, "grn"))
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    x = torch.randn(2, 8, 6, 6)
    torch.testing.assert_close(compiled(x), model(x))


def test_a_library_carries_layers(tmp_path):
    (tmp_path / "layers.arch").write_text(GRN)
    (tmp_path / "net.arch").write_text('arch t()\ninput 8x6x6\nuse "layers.arch"\nstem grn\nhead gap fc(3)\n')
    assert main(["compile", str(tmp_path / "net.arch")]) == 0


def test_formatter_keeps_meaning_and_spaces_as_python():
    messy = GRN.replace("n / (mean(n, \"c\") + eps)", "n/(mean(n,\"c\")+eps)").replace("x + gamma * (x * n) + beta", "x+gamma*(x*n)+beta")
    text = net(messy, "grn")
    assert format_source(text) == format_source(net(GRN, "grn"))
    assert format_source(format_source(text)) == format_source(text)
    split = format_source(net("layer g():\n    a, b = split(x, [3,5], 0)\n    a * mean(b, \"c\")\n", "g"))
    assert "a, b = split(x, [3, 5], 0)" in split  # a list in a body is spaced as Python; header lists stay [3,5]


@pytest.mark.parametrize("layers, body, message", [
    ("layer ln(eps=1e-6):\n    x * eps\n", "ln", "`ln` is a built-in layer token"),
    ("layer g():\n    a = x * 2\n    x\n", "g", "`a` is computed but never used"),
    ("layer g():\n    a = x * 2\n", "g", "must end with a line giving its output tensor"),
    ("layer g():\n    mean(x, \"w\") @ x\n", "g", "cannot multiply"),
    ("layer g():\n    mean(x, \"q\")\n", "g", "axes `q` do not name dims"),
    ("layer g(k):\n    x * k\n", "g", "layer `g` needs a value for `k`"),
    ("layer g():\n    foo(x)\n", "g", "unknown function or layer `foo`"),
    ("layer g():\n    a, b = split(x, [3, 4], 0)\n    a * mean(b, \"c\")\n", "g", "cannot split 8 into parts of 3, 4 along axis 0"),
    ("layer g():\n    a, b = split(x, 4, 0)\n    a * b\n", "g", "takes a tensor, a list of part sizes and an axis"),
    ("layer g():\n    a, b = split(x, [0, 8], 0)\n    a * b\n", "g", "split part sizes must be at least 1"),
    ("layer g():\n    fc(x, 8, stride=2)\n", "g", "`fc` has no argument `stride`"),
])
def test_errors_are_located_in_the_body(layers, body, message):
    with pytest.raises(ArchError) as e:
        archdsl.compile_graph(net(layers, body))
    assert message in e.value.message, e.value.message
    assert e.value.span is not None and e.value.span.line >= 3


WINDOWS = """\
layer token_fc:                         # on windows: n1 x n2 windows x tokens x channels
    fc(x, 2 * c)

layer win_fc(p):                        # token_fc inside each p x p window
    t = rearrange(x, "c (n1 p1) (n2 p2) -> n1 n2 (p1 p2) c", p1=p, p2=p)
    rearrange(token_fc(t), "n1 n2 (p1 p2) c -> c (n1 p1) (n2 p2)", p1=p)

block b(c):
    pw(c) win_fc(2) ln pw(c)
"""


def test_a_layer_on_windows_is_one_class_in_its_width():
    """Values of rank 4 and more (windows x tokens x channels) keep their width last, as `fc`
    and `ln` read it, so a layer on windows takes `c` and its callers pass their own symbols:
    one class each, whatever the stage width."""
    text = "arch t(dims=[16, 32])\ninput 3x16x16\n" + WINDOWS + "stem conv3(16)\nstage b x[1,1]\nhead gap fc(3)\n"
    source = archdsl.to_source(text)
    for cls in ("TokenFc", "WinFc", "B"):
        assert source.count(f"class {cls}(nn.Module)") == 1, source
    assert "self.fc = nn.Linear(c, 2 * c)" in source
    assert "self.token_fc = TokenFc(c)" in source and "self.win_fc = WinFc(c)" in source
    assert "self.norm = LayerNorm2d(2 * c)" in source
    model = archdsl.build(text)
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 3)
    assert sum(p.numel() for p in model.parameters()) == archdsl.summary(text)["params"]
