"""Per-block stage tables, the implicit `cin`, `residual(proj=skip)`, conditional layers
(`x(cond)`), sizes from expressions (`dw(kernel=k)`), and the `se` / `act` layers."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torchvision.ops.misc import SqueezeExcitation

import archdsl
from tests.conftest import meta_params

TABLE = """
arch net()
input 3x32x32
block unit(c, k, s, cin):
    residual(proj=skip):
        [pw(cin * 2) bn relu] x(cin != c)
        dw(kernel=k)/s bn relu pw(c) bn
stem conv3(8)
stage unit x[2,3] c=[8,16] k=[3,5,3,5,7] strides=[1,1,2,1,1]
"""


def test_per_block_options_and_cin():
    g = archdsl.api.compile_graph(TABLE)
    dws = [n for n in g if n.op == "dw"]
    assert [n.attrs["kernel"] for n in dws] == [3, 5, 3, 5, 7]
    assert [n.attrs["stride"] for n in dws] == [1, 1, 2, 1, 1]
    from collections import Counter

    pws = Counter(n.scope for n in g if n.op == "pw")
    # only block 0 of stage 1 changes the width (cin 8 -> c 16), so only it has the expand 1x1
    assert [scope for scope, k in pws.items() if k == 2] == [("stages", 1, "blocks", 0)]
    expand = next(n for n in g if n.op == "pw" and n.scope == ("stages", 1, "blocks", 0))
    assert expand.attrs["out"] == 16  # cin * 2 with cin = 8


def test_proj_skip_keeps_only_shape_preserving_shortcuts():
    g = archdsl.api.compile_graph(TABLE)
    adds = sorted(n.scope for n in g if n.op == "add")
    # block (1,0) changes 8 -> 16 channels and stride 2: no shortcut and no projection
    assert adds == [("stages", 0, "blocks", 0), ("stages", 0, "blocks", 1),
                    ("stages", 1, "blocks", 1), ("stages", 1, "blocks", 2)]
    assert not any("shortcut" in n.sub for n in g)


def test_per_stage_list_still_wins_when_lengths_agree():
    g = archdsl.api.compile_graph(TABLE.replace("x[2,3]", "x[1,1]").replace("k=[3,5,3,5,7] strides=[1,1,2,1,1]", "k=[3,5]"))
    assert [n.attrs["kernel"] for n in g if n.op == "dw"] == [3, 5]


def test_bool_repeat_and_size_keyword():
    text = "arch net(on=true, k=5)\ninput 3x16x16\nstem conv(8, kernel=k) [bn relu] x(on) dw(kernel=[1, k])\n"
    g = archdsl.api.compile_graph(text)
    assert [n.op for n in g][1:] == ["conv", "bn", "relu", "dw"]
    assert [n.attrs["kernel"] for n in g if n.op in ("conv", "dw")] == [5, (1, 5)]
    g = archdsl.api.compile_graph(text, on=False)
    assert [n.op for n in g][1:] == ["conv", "dw"]


def test_act_layer_by_value():
    text = 'arch net(nl="hswish")\ninput 3x16x16\nstem conv3(8) bn act(nl) act(relu)\n'
    m = archdsl.build(text)
    assert [type(x).__name__ for x in m.stem.children()] == ["Conv2d", "BatchNorm2d", "Hardswish", "ReLU"]
    assert type(archdsl.build(text, nl="relu6").stem.act1).__name__ == "ReLU6"


@pytest.mark.parametrize("token,channels,expected", [
    ("se0.25", 96, 24),                      # floor(0.25 * 96)
    ("se0.25(of=40)", 240, 10),              # EfficientNet: a quarter of the block input
    ("se0.25(div=8)", 72, 24),               # MobileNetV3: make_div(72 / 4, 8)
    ("se0.25(div=8)", 88, 24),               # 22 -> 24
    ("se0.25(of=30, round=true)", 64, 8),    # RegNetY: round(7.5) = 8
    ("se(rd=5)", 64, 5),
    ("se(ratio=0.5)", 64, 32),
    ("se0.25", 2, 1),                        # never below 1
])
def test_se_squeeze_width(token, channels, expected):
    text = f"arch net()\ninput {channels}x4x4\nstem {token}\n"
    m = archdsl.build(text)
    assert m.stem.se.fc1.out_channels == expected
    assert archdsl.summary(text)["params"] == sum(p.numel() for p in m.parameters())
    assert meta_params(lambda: archdsl.build(text)) == 2 * channels * expected + expected + channels


def test_se_equals_torchvision_squeeze_excitation():
    text = "arch net()\ninput 32x5x5\nstem se0.25(div=8, act=relu, gate=hsigmoid)\n"
    ours = archdsl.build(text).double()
    ref = SqueezeExcitation(32, 8, scale_activation=torch.nn.Hardsigmoid).double()
    archdsl.load_reference(ours, ref)
    x = torch.randn(2, 32, 5, 5, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-12, atol=1e-12)


def test_se_in_residual_block_matches_torchvision_mobilenet_v3_block():
    # one MobileNetV3 bneck: expand 16 -> 72 (skipped when equal), dw5 SE hswish, project
    ref = torchvision.models.mobilenet_v3_large().features[4]  # 24 -> 40, k5, SE, stride 2
    text = """arch net()
input 24x16x16
default bn(eps=0.001, momentum=0.01)
block b(c, s, cin):
    residual(proj=skip):
        pw(72) bn relu dw5/s bn relu se0.25(div=8, gate=hsigmoid) pw(c) bn
stage b x[1] c=[40] strides=[2]
"""
    ours = archdsl.build(text)
    archdsl.load_reference(ours, ref)
    ours, ref = ours.double().eval(), ref.double().eval()
    x = torch.randn(1, 24, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(ours(x), ref(x), rtol=1e-10, atol=1e-12)


def test_proj_skip_error_free_when_shape_kept():
    text = "arch net()\ninput 8x8x8\nblock b(c):\n    residual(proj=skip): conv3(c) bn\nstage b x[1] c=[8] strides=[1]\n"
    assert any(n.op == "add" for n in archdsl.api.compile_graph(text))


def test_cin_is_the_block_input_unless_passed():
    text = "arch net()\ninput 3x8x8\nblock b(cin):\n    conv3(cin * 2)\nstem conv3(5) b b(cin=4)\n"
    g = archdsl.api.compile_graph(text)
    assert [n.attrs["out"] for n in g if n.op == "conv"] == [5, 10, 8]


def test_drop_path_list_gives_one_rate_per_block():
    text = TABLE.replace("arch net()", "arch net(sd=0.5)") + "let drop_path = [sd * b / 5 for b in range(5)]\ndefault residual(drop=drop_path)\n"
    rates = {n.scope: n.attrs["p"] for n in archdsl.api.compile_graph(text) if n.op == "drop_path"}
    # block 0 (rate 0) has none; block (1,0) has no shortcut, so no drop path either
    assert rates == {("stages", 0, "blocks", 1): 0.1, ("stages", 1, "blocks", 1): 0.3, ("stages", 1, "blocks", 2): 0.4}
