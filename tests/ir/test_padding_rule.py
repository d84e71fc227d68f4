"""The documented padding rule (docs/language.md, Layer tokens): the default padding keeps
ceil(H / stride); an even kernel at stride 1 cannot, so it is an error asking for `p=` or
`same=true`, and with either the inferred shape is the built module's."""

from __future__ import annotations

import pytest
import torch

import archdsl
from archdsl.errors import ArchError


def net(body: str) -> str:
    return f"arch t()\ninput 3x32x32\nstem conv3(8) {body}\nhead gap fc(10)\n"


@pytest.mark.parametrize("body", ["conv2(8)", "maxpool2/1", "avgpool4/1", "conv4(8)"])
def test_even_kernel_at_stride_1_is_a_located_error(body):
    with pytest.raises(ArchError, match="an even kernel at stride 1 cannot keep the size") as e:
        archdsl.compile_graph(net(body))
    assert (e.value.span.line, e.value.span.column) == (3, 15)


@pytest.mark.parametrize("body, size", [
    ("conv2(8, p=0)", 31), ("maxpool2/1(p=0)", 31), ("avgpool4/1(p=0)", 29),
    ("conv2(8, same=true)", 32), ("maxpool2/1(same=true)", 32), ("avgpool4/1(same=true)", 32),
    ("conv3(8)", 32), ("conv5/2(8)", 16), ("conv4/2(8)", 16), ("conv4/4(8)", 8), ("maxpool3/2", 16), ("maxpool2", 16),
])
def test_inferred_shape_is_the_built_modules(body, size):
    text = net(body)
    g = archdsl.compile_graph(text)
    stem_out = [n for n in g if n.scope[:1] == ("stem",)][-1].shape
    assert stem_out == (8, size, size)
    with torch.no_grad():
        assert tuple(archdsl.build(text).eval().stem(torch.randn(1, 3, 32, 32)).shape) == (1, 8, size, size)


@pytest.mark.parametrize("body", ["conv3(0)", "conv3(-2)", "pw(0)"])
def test_zero_or_negative_width_is_an_error(body):
    with pytest.raises(ArchError, match="must be positive"):
        archdsl.compile_graph(net(body))
