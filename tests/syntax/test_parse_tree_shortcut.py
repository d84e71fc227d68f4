"""The parser's fast tree building gives exactly lark's own tree (nodes, tokens, positions)."""

from pathlib import Path

import lark
import pytest
from lark import Token, Tree

from archdsl.syntax import parser

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(ROOT.glob("zoo/**/*.arch")) + sorted(ROOT.glob("tests/**/*.arch")) + sorted(ROOT.glob("examples/**/*.arch"))

_META = ("line", "column", "end_line", "end_column", "start_pos", "end_pos", "empty",
         "container_line", "container_column", "container_start_pos",
         "container_end_line", "container_end_column", "container_end_pos")


def _same(a, b, where="") -> None:
    assert type(a) is type(b), where
    if isinstance(a, Token):
        assert (a.type, str(a), a.line, a.column, a.end_line, a.end_column, a.start_pos, a.end_pos) == \
               (b.type, str(b), b.line, b.column, b.end_line, b.end_column, b.start_pos, b.end_pos), where
        return
    if a is None:
        return
    assert isinstance(a, Tree)
    assert a.data == b.data, where
    assert {k: getattr(a.meta, k, "<unset>") for k in _META} == {k: getattr(b.meta, k, "<unset>") for k in _META}, (where, a.data)
    assert len(a.children) == len(b.children), (where, a.data)
    for k, (x, y) in enumerate(zip(a.children, b.children)):
        _same(x, y, f"{where}/{a.data}[{k}]")


@pytest.fixture(scope="module")
def plain():
    return parser._plain_lark()


def test_some_rules_take_the_shortcut(plain):
    assert sum(parser._is_unit_rule(r) for r in plain._callbacks if not isinstance(r, str)) >= 10
    assert any(cb is not plain._callbacks.get(r) for r, cb in parser._lark()._callbacks.items())


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_same_tree_as_lark(plain, path):
    text = path.read_text(errors="replace")
    if not text.endswith("\n"):
        text += "\n"
    try:
        expected = plain.parse(text, start="start")
    except (lark.exceptions.LarkError, parser._UnmatchedCloser) as e:
        with pytest.raises(type(e)):
            parser._lark().parse(text, start="start")
        return
    _same(parser._lark().parse(text, start="start"), expected)


@pytest.mark.parametrize("text", ["x=1+2*3**-4", "x=[(a + b) * c, not d or e and f < 3, w[0][1], round8(c*1.5)]",
                                  "x=[v for v in range(3) if v > 0]", "x=(1 if a else 2)", "x='s'"])
def test_same_tree_for_set_args(plain, text):
    try:
        expected = plain.parse(text + "\n", start="set_arg")
    except lark.exceptions.LarkError as e:
        with pytest.raises(type(e)):
            parser._lark().parse(text + "\n", start="set_arg")
        return
    _same(parser._lark().parse(text + "\n", start="set_arg"), expected)
