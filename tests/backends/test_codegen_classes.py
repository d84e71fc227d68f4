"""Instances -> classes (archdsl/backends/codegen/classes.py): which instances of a block
share one class in the generated file, and what the forward names its values."""

from __future__ import annotations

import torch

import archdsl

# a strided block has a shortcut of its own (a nested block) that the others lack
STRIDED = """\
arch t(dims=[8,16])
input 3x16x16
block shortcut(c):
    avgpool2 pw(c, bias=false)
block down(c, s):
    sc = shortcut(c) x(s > 1)
    y = bn relu [avgpool2] x(s > 1) conv3(c)
    add: [y] [sc]
stem conv3(8)
stage down x[2,2] strides=[2,2]
head gap fc(3)
"""

# blocks that differ in how often they repeat a nested block
REPEATS = """\
arch t(dims=[8,16])
input 3x16x16
block unit(c):
    conv3(c) bn relu
block group(c, n):
    unit(c) x(n)
stem conv3(8)
stage group x[1,1] n=[2,3] strides=[1,2]
head gap fc(3)
"""


def test_a_nested_block_only_some_instances_have_is_optional_in_one_class():
    source = archdsl.to_source(STRIDED)
    assert source.count("class Down") == 1
    assert "self.shortcut1 = nn.Identity()\n        if shortcut1:\n            self.shortcut1 = Shortcut(in_channels, c)" in source
    assert "Down(8, 8, shortcut1=True, avgpool=True)" in source and "Down(8, 8)" in source
    model = archdsl.build(STRIDED)
    assert sum(p.numel() for p in model.parameters()) == archdsl.summary(STRIDED)["params"]
    assert model(torch.randn(1, 3, 16, 16)).shape == (1, 3)


def test_blocks_that_differ_in_repeats_keep_a_class_each():
    source = archdsl.to_source(REPEATS)
    assert source.count("class Group") == 2  # not one class with a flag per repeated block
    assert "unit3: bool" not in source


def test_a_named_layer_result_is_not_the_callers_variable():
    text = ("arch t()\ninput 8x6x6\nlayer mix(out):\n    proj = conv1(x, out)\n    proj\n"
            "block b(c):\n    y = bn mix(c)\n    add: [y] [bn]\nstem b(8)\nhead gap fc(3)\n")
    source = archdsl.to_source(text)
    assert "self.proj = nn.Conv2d(c, out, kernel_size=1)" in source  # the module keeps the body's name
    assert "proj = self.mix(" not in source
