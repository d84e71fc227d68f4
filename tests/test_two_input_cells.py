"""Two-input cells: named values in block bodies, `prev`, `keep_prev`; list `+`/`*`; TF SAME padding."""

from __future__ import annotations

import pytest
import torch
from timm.layers import create_conv2d, create_pool2d

import archdsl
from archdsl.errors import ArchError

# cat: [h] [prev] makes each block's width show which input it saw as `prev`
CELLS = """arch net(keep=[false, false, false, false])
input 3x16x16
block cell(c):
    h = conv1(c)
    cat: [h] [prev]
stem conv3(4)
stage cell x4 c=[8, 16, 32, 64] keep_prev=keep
head gap
"""


def widths(text: str, **kw) -> list[int]:
    g = archdsl.compile_graph(text, **kw)
    outs = [n for n in g if n.op == "cat"]
    return [n.shape[0] for n in outs]


def test_prev_is_the_input_of_the_previous_block():
    # block 0 sees its own input (4) twice; then prev = 4, 12, 20 (the inputs of blocks 0, 1, 2)
    assert widths(CELLS) == [8 + 4, 16 + 4, 32 + 12, 64 + 20]


def test_keep_prev_passes_the_previous_prev_on():
    # after block 2 (keep_prev), block 3's prev is block 2's prev (12), not block 2's input (20)
    assert widths(CELLS, keep=[False, False, True, False]) == [12, 20, 44, 64 + 12]


def test_named_values_do_not_move_the_running_value():
    text = """arch net()
input 3x8x8
block cell:
    a = conv1(5)
    b = conv1(7)
    cat: [b] [a] []
stem cell
head gap
"""
    cat = [n for n in archdsl.compile_graph(text) if n.op == "cat"][0]
    assert cat.shape[0] == 7 + 5 + 3  # `[]` is the block input itself


def test_two_input_block_module_and_output():
    torch.manual_seed(0)
    m = archdsl.build(CELLS).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        y = m(x)
        s = m.stem(x)
        b0 = m.stages[0].blocks[0](s)  # first block: one input (prev is its own input)
        b1 = m.stages[0].blocks[1](b0, s)  # then two: x (the previous block's output), and prev
        assert torch.equal(b1[:, 16:], s)
        assert torch.equal(b1[:, :16], m.stages[0].blocks[1].conv(b0))
    assert y.shape == (2, 84)


@pytest.mark.parametrize("keep", ["false, false, false, false", "false, false, true, false", "true, true, false, false"])
def test_source_writes_two_input_cells(keep, tmp_path):
    """The generated cells take (x, prev); its CellStage passes prev on as the graph does
    (keep_prev included): the file runs as written and equals the built network."""
    source = CELLS.replace("false, false, false, false", keep)
    text = archdsl.to_source(source)
    assert "CellStage(blocks, keep_prev)" in text and "def forward(self, x: torch.Tensor, prev: torch.Tensor)" in text
    torch.manual_seed(0)
    built = archdsl.build(source).eval()
    namespace: dict = {}
    exec(compile(text, str(tmp_path / "cells.py"), "exec"), namespace)  # the file the compiler wrote
    written = namespace[text.split("\nclass ")[-1].split("(")[0]]().eval()
    written.load_state_dict(built.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(written(x), built(x))


def test_list_join_and_repeat():
    text = """arch net(n=2)
input 3x8x8
let kinds = [1]*2 + ([2]*n + [3])*2
stem conv3(len(kinds))
head gap
"""
    assert archdsl.summary(text)["output_shape"] == [1, 8]
    with pytest.raises(ArchError, match="whole number"):
        archdsl.summary(text.replace("[1]*2", "[1]*2.5"))


@pytest.mark.parametrize("size", [7, 8, 15, 16])
@pytest.mark.parametrize("k,s", [(3, 1), (3, 2), (5, 2), (7, 2), (1, 2)])
def test_same_padding_equals_timm(size, k, s):
    torch.manual_seed(0)
    x = torch.randn(1, 4, size, size, dtype=torch.float64)
    text = f"""arch net()
input 4x{size}x{size}
stem dw{k}/{s}(same=true, bias=false)
"""
    ours = archdsl.build(text).double()
    ref = create_conv2d(4, 4, k, stride=s, padding="same", groups=4, bias=False).double()
    ref.weight.data.copy_(ours.stem.dwconv.weight.data)
    assert archdsl.summary(text)["output_shape"] == [1, 4, -(-size // s), -(-size // s)]
    torch.testing.assert_close(ours(x), ref(x), rtol=0, atol=0)
    for pool, kind, extra in (("maxpool", "max", ""), ("avgpool", "avg", ", count_pad=false")):
        if k == 1:
            continue
        net = archdsl.build(f"arch net()\ninput 4x{size}x{size}\nstem {pool}{k}/{s}(same=true{extra})\n").double()
        kw = {"count_include_pad": False} if kind == "avg" else {}
        torch.testing.assert_close(net(x), create_pool2d(kind, k, s, padding="same", **kw)(x), rtol=0, atol=0)


def test_pad_shifts_the_grid():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    m = archdsl.build("arch net()\ninput 1x4x4\nstem pad(-1, 1, -1, 1)\n")
    assert torch.equal(m(x), torch.nn.functional.pad(x, (-1, 1, -1, 1)))
