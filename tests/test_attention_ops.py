"""The attention layer kinds with non-default options: the parameter rule equals the built
module, batches of two run, and torch.compile sees one graph."""

from __future__ import annotations

import torch

import archdsl

NET = """arch t(classes=10)
input 3x64x64
stem conv4/4(64) ln
stage ln wattn(4, window=4, shift=2, qkv_bias=false) x[1] c=64
stage ln wattn2(2, window=8, cpb_hidden=64, qkv_bias=false) x[1] c=64
stage ln srattn(4, sr=2, qkv_bias=false) x[1] c=64
stage ln srattn(4) x[1] c=64
stage bot_attn(4, dim_head=16, qkv_bias=true) x[1] c=64
stage bot_attn/2(2, qk_ratio=0.5) x[1] c=64
head gap fc(classes)
"""


def test_param_rules_equal_built_modules():
    model = archdsl.build(NET)
    assert archdsl.summary(NET)["params"] == sum(p.numel() for p in model.parameters())
    assert archdsl.summary(NET)["output_shape"] == [1, 10]


def test_batch_and_compile():
    torch._dynamo.reset()
    model = archdsl.build(NET).eval()
    x = torch.randn(2, 3, 64, 64)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        y = model(x)
        torch.testing.assert_close(compiled(x), y)
        # samples do not mix: the second output is the second input's alone
        torch.testing.assert_close(model(x[1:]), y[1:])
