"""Structures as chain items (issue 17): `[residual: ...] x(s == 1)` repeats a structure 0, 1
or n times, `residual: add: [a] [b]` nests one in another on one line, and a line ending in
a structure's `:` takes the indented lines below. Each form parses to the AST it says,
lowers to the same graph as the indented form it abbreviates, builds, and its generated
source runs and computes what the built network computes."""

from __future__ import annotations

import ast as pyast
import types

import pytest
import torch

import archdsl
from archdsl.syntax import ast
from archdsl.syntax.format import format_source

HEAD = "arch t(dims=[8,16], classes=5)\ninput 3x16x16\n"


def net(block: str, stage: str = "stage unit x[1,2] s=[1,2]", stem: str = "stem conv3(8)") -> str:
    return HEAD + block + f"{stem}\n{stage}\nhead gap fc(classes)\n"


def signature(text: str) -> list:
    """What the network computes, node by node: op, the inputs' positions, shape."""
    g = archdsl.compile_graph(text)
    pos = {nid: k for k, nid in enumerate(g.order)}
    return [(n.op, tuple(pos[i] for i in n.inputs), n.shape) for n in g]


def runs_from_source(text: str) -> None:
    """The generated file, executed on its own, computes what `build` computes."""
    model = archdsl.build(text).eval()
    source = archdsl.to_source(text)
    mod = types.ModuleType("generated_nested")
    exec(compile(source, "<generated>", "exec"), mod.__dict__)  # noqa: S102 - our own generated code
    cls = [n.name for n in pyast.parse(source).body if isinstance(n, pyast.ClassDef)][-1]
    again = getattr(mod, cls)().eval()
    again.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x))
    assert sum(p.numel() for p in model.parameters()) == archdsl.summary(text)["params"]


# (one-line form, the indented form it means)
EQUIVALENT = {
    "nested_on_one_line": (
        "block unit(c, s=1):\n    conv3/s(c) bn\n    residual: add: [conv1(c)] [conv3(c) bn]\n",
        "block unit(c, s=1):\n    conv3/s(c) bn\n    residual:\n        add: [conv1(c)] [conv3(c) bn]\n"),
    "open_structure_takes_the_indented_lines": (
        "block unit(c, s=1):\n    conv3/s(c) bn\n    residual: add:\n        conv1(c)\n        dw3 bn\n",
        "block unit(c, s=1):\n    conv3/s(c) bn\n    residual:\n        add:\n            conv1(c)\n            dw3 bn\n"),
    "structure_after_layers": (
        "block unit(c, s=1):\n    conv3/s(c) bn residual: relu conv3(c)\n",
        "block unit(c, s=1):\n    conv3/s(c) bn\n    residual: relu conv3(c)\n"),
    "structure_in_a_group_then_more_layers": (
        "block unit(c, s=1):\n    conv3/s(c) [residual: bn relu conv3(c)] bn\n",
        "block unit(c, s=1):\n    conv3/s(c)\n    residual: bn relu conv3(c)\n    bn\n"),
    "repeated_structure": (
        "block unit(c, s=1):\n    conv3/s(c) [residual: bn relu conv3(c)] x2\n",
        "block unit(c, s=1):\n    conv3/s(c)\n    residual: bn relu conv3(c)\n    residual: bn relu conv3(c)\n"),
    "branch_line_is_a_structure": (
        "block unit(c, s=1):\n    conv3/s(c)\n    add:\n        bn\n        residual: relu conv3(c)\n",
        "block unit(c, s=1):\n    conv3/s(c)\n    add: [bn] [[residual: relu conv3(c)]]\n"),
    "named_value_of_an_open_structure": (
        "block unit(c, s=1):\n    conv3/s(c)\n    h = add:\n        bn\n        relu\n    cat: [h] [h conv1(c)]\n",
        "block unit(c, s=1):\n    conv3/s(c)\n    h = add: [bn] [relu]\n    cat: [h] [h conv1(c)]\n"),
}


@pytest.mark.parametrize("name", sorted(EQUIVALENT))
def test_one_line_form_lowers_like_the_indented_form(name):
    short, long = EQUIVALENT[name]
    assert signature(net(short)) == signature(net(long))
    runs_from_source(net(short))


def test_conditional_structure_is_there_once_or_not_at_all():
    text = net("block unit(c, s=1):\n    conv3/s(c) bn\n    [residual: conv3(c) bn relu] x(s == 1)\n")
    g = archdsl.compile_graph(text)
    per_block: dict[int, list[str]] = {}
    for n in g:
        if n.block_index is not None:
            per_block.setdefault(n.block_index, []).append(n.op)
    with_it, without = ["conv", "bn", "conv", "bn", "relu", "add"], ["conv", "bn"]
    assert per_block == {0: with_it, 1: without, 2: with_it}  # s = 1, then s = 2 and 1 in the second stage
    runs_from_source(text)


def test_structure_in_stem_and_head_lines():
    text = net("", stage="stage dw3 bn x[1,1]", stem="stem conv3(8) [residual: bn relu conv3(8)] x2 residual: relu")
    g = archdsl.compile_graph(text)
    stem = [n.op for n in g if n.scope[:1] == ("stem",)]
    assert stem.count("add") == 3
    runs_from_source(text)


def test_parsed_forms():
    p = archdsl.parse(net("block unit(c, s=1):\n    [residual: conv3(c)] x(s == 1)\n    residual: add: [conv1(c)] []\n"
                          "    residual: cat:\n        conv1(c)\n        conv1(c)\n"))
    cond, nested, opened = p.blocks["unit"].body
    assert isinstance(cond, ast.Chain) and isinstance(cond.items[0], ast.Repeat)
    group = cond.items[0].item
    assert isinstance(group, ast.Group) and isinstance(group.chain.items[0], ast.Struct)
    assert isinstance(nested, ast.Struct) and nested.kind == "residual"
    inner = nested.body[0].items[0]
    assert isinstance(inner, ast.Struct) and inner.kind == "add" and len(inner.body[0].items) == 2
    assert isinstance(opened, ast.Struct) and opened.body[0].items[0].kind == "cat"
    assert [len(line.items) for line in opened.body[0].items[0].body] == [1, 1]


def test_formatter_keeps_the_forms():
    text = net("block unit(c, s=1):\n    [residual: conv3(c)] x(s == 1)\n    residual: add: [conv1(c)] []\n"
               "    residual: cat:\n        conv1(c)\n        conv1(c)\n", stem="stem conv3(8)  [residual:relu]   x2")
    out = format_source(text)
    assert "stem  conv3(8) [residual: relu] x2\n" in out
    assert "    residual: add: [conv1(c)] []\n" in out and "    residual: cat:\n        conv1(c)\n" in out
    assert format_source(out) == out


def test_stage_body_of_one_structure_is_that_structure():
    """An inline stage body is a residual block `x + body(x)`; a body that is one structure
    and nothing else is that structure itself (not `x + (x + ...)`), as a block holding it."""
    inline = net("", stage="stage [residual: dw3/s bn] x[1,2] s=[1,2]")
    block = net("block unit(s):\n    residual: dw3/s bn\n", stage="stage unit x[1,2] s=[1,2]")
    assert signature(inline) == signature(block)
    assert [n.op for n in archdsl.compile_graph(inline)].count("add") == 3
    cat = net("", stage="stage cat: [conv1(c // 2)] [dw3 conv1(c // 2)]")
    assert [n.op for n in archdsl.compile_graph(cat)].count("add") == 0
    runs_from_source(inline)
    chain = net("", stage="stage dw3 [residual: bn] x[1,1] s=[1,1]")  # more than the structure: residual as before
    assert [n.op for n in archdsl.compile_graph(chain)].count("add") == 4


def test_the_documented_example_builds():
    """docs/language.md's example of structures as chain items is a block that builds, with
    its conditional residual there at stride 1 only."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "language.md").read_text()
    start = doc.index("    block mbconv(c, t, s=1):\n")
    lines = []
    for line in doc[start:].split("\n"):
        if not line.startswith("    "):
            break
        lines.append(line[4:])
    block = "\n".join(lines) + "\n"
    text = HEAD + block + "stem conv3(8)\nstage mbconv x[1,1] t=2 s=[1,2]\nhead gap fc(classes)\n"
    g = archdsl.compile_graph(text)
    adds = {b: sum(1 for n in g if n.op == "add" and n.block_index == b) for b in (0, 1)}
    assert adds[1] == adds[0] - 1  # the `x(s == 1)` residual is left out at stride 2
    runs_from_source(text)
