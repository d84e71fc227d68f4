"""The parser's fast tree building and LALR loop give exactly lark's own tree (nodes,
tokens, positions) and lark's own errors (token, parser state, expected and acceptable
tokens)."""

from pathlib import Path

import lark
import pytest
from lark import Token, Tree
from lark.indenter import DedentError

from archdsl.syntax import parser

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(ROOT.glob("zoo/**/*.arch")) + sorted(ROOT.glob("tests/**/*.arch")) + sorted(ROOT.glob("examples/**/*.arch"))

_META = ("line", "column", "end_line", "end_column", "start_pos", "end_pos", "empty",
         "container_line", "container_column", "container_start_pos",
         "container_end_line", "container_end_column", "container_end_pos")


def _same(a, b, where="") -> None:
    stack = [(a, b, where)]  # not recursive: a tree may be deeper than Python's stack (syntax_nests_too_deeply)
    while stack:
        a, b, where = stack.pop()
        assert type(a) is type(b), where
        if isinstance(a, Token):
            assert (a.type, str(a), a.line, a.column, a.end_line, a.end_column, a.start_pos, a.end_pos) == \
                   (b.type, str(b), b.line, b.column, b.end_line, b.end_column, b.start_pos, b.end_pos), where
            continue
        if a is None:
            continue
        assert isinstance(a, Tree)
        assert a.data == b.data, where
        assert {k: getattr(a.meta, k, "<unset>") for k in _META} == {k: getattr(b.meta, k, "<unset>") for k in _META}, (where, a.data)
        assert len(a.children) == len(b.children), (where, a.data)
        for k, (x, y) in enumerate(zip(a.children, b.children)):
            stack.append((x, y, f"{where}/{a.data}[{k}]"))


class _Both:
    """One lark instance, parsed with the way archdsl sets it up (`fast`) or as lark built
    it (`plain`: lark's own tree wrappers and LALR loop). LALR state numbers differ between
    two lark instances, so states are compared within one."""

    def __init__(self):
        self.lark = parser._plain_lark()
        self.lalr = self.lark.parser.parser
        self.plain_loop = self.lalr.parser
        self.plain_callbacks = dict(self.lark._callbacks)
        parser._shortcut_unit_rules(self.lark)
        parser._install_fast_driver(self.lark)
        self.fast_loop = self.lalr.parser
        self.fast_callbacks = dict(self.lark._callbacks)
        assert self.fast_loop is not self.plain_loop

    def parse(self, text, start, fast):
        self.lark._callbacks.update(self.fast_callbacks if fast else self.plain_callbacks)
        self.lalr.parser = self.fast_loop if fast else self.plain_loop
        try:
            return self.lark.parse(text, start=start)
        finally:
            self.lark._callbacks.update(self.fast_callbacks)
            self.lalr.parser = self.fast_loop


@pytest.fixture(scope="module")
def both():
    return _Both()


@pytest.fixture(scope="module")
def plain():
    return parser._plain_lark(cache=False)


def test_some_rules_take_the_shortcut(plain):
    assert type(parser._lark().parser.parser.parser) is not type(plain.parser.parser.parser)
    assert sum(parser._is_unit_rule(r) for r in plain._callbacks if not isinstance(r, str)) >= 10
    assert any(cb is not plain._callbacks.get(r) for r, cb in parser._lark()._callbacks.items())


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_same_tree_as_lark(both, path):
    text = path.read_text(errors="replace")
    if not text.endswith("\n"):
        text += "\n"
    _same_outcome(both, text, "start")


def _same_outcome(both, text, start):
    try:
        expected = both.parse(text, start, fast=False)
    except (lark.exceptions.LarkError, parser._UnmatchedCloser, DedentError) as e:
        with pytest.raises(type(e)) as got:
            both.parse(text, start, fast=True)
        _same_error(got.value, e)
        return
    _same(both.parse(text, start, fast=True), expected)


def _same_error(got, expected) -> None:
    assert str(got) == str(expected)
    if isinstance(expected, lark.exceptions.UnexpectedToken):
        assert got.state.position == expected.state.position
        assert got.state.state_stack == expected.state.state_stack
        assert (got.token.type, str(got.token), got.token.line, got.token.column) == \
               (expected.token.type, str(expected.token), expected.token.line, expected.token.column)
        assert got.expected == expected.expected
        assert got.accepts == expected.accepts


def _cuts(path):
    """Broken versions of a zoo file: cut off after a few tokens' worth of text, or with a
    character dropped, at positions spread over the file."""
    text = path.read_text()
    for k in range(1, 8):
        pos = len(text) * k // 8
        yield text[:pos] + "\n"
        yield text[:pos] + text[pos + 1:]


BROKEN = [(p, k, t) for p in sorted(ROOT.glob("zoo/*.arch"))[::3] for k, t in enumerate(_cuts(p))]


@pytest.mark.parametrize("path,k,text", BROKEN, ids=[f"{p.name}-{k}" for p, k, _ in BROKEN])
def test_same_outcome_for_broken_text(both, path, k, text):
    _same_outcome(both, text, "start")


@pytest.mark.parametrize("text", ["x=1+2*3**-4", "x=[(a + b) * c, not d or e and f < 3, w[0][1], round8(c*1.5)]",
                                  "x=[v for v in range(3) if v > 0]", "x=(1 if a else 2)", "x='s'",
                                  "x=", "x=[1,", "x=1 2", "=3", "x=(1))"])
def test_same_tree_for_set_args(both, text):
    _same_outcome(both, text + "\n", "set_arg")


def test_grammar_cache_round_trip(tmp_path, monkeypatch, plain):
    monkeypatch.delenv("ARCHDSL_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    written = parser._plain_lark()  # analyses the grammar and writes the cache
    files = list((tmp_path / "archdsl").glob("grammar-*.lark"))
    assert len(files) == 1 and (tmp_path / "archdsl").stat().st_mode & 0o077 == 0
    loaded = parser._plain_lark()  # reads it back
    for lk in (written, loaded):
        parser._shortcut_unit_rules(lk)
        parser._install_fast_driver(lk)
    text = (ROOT / "zoo" / "mobilenet_v3.arch").read_text()
    expected = plain.parse(text, start="start")
    _same(written.parse(text, start="start"), expected)
    _same(loaded.parse(text, start="start"), expected)
    files[0].write_bytes(b"garbage\n")  # a corrupt cache is ignored, not an error
    _same(parser._plain_lark().parse(text, start="start"), expected)


def test_grammar_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("ARCHDSL_NO_CACHE", "1")
    assert parser._cache_file("x") is None
    monkeypatch.delenv("ARCHDSL_NO_CACHE")
    (tmp_path / "archdsl").mkdir(mode=0o777)
    (tmp_path / "archdsl").chmod(0o777)
    assert parser._cache_file("x") is None  # a folder others can write to is not trusted


def test_grammar_change_invalidates_the_cache(tmp_path, monkeypatch):
    """Editing grammars/arch.lark starts a fresh cache file (the name hashes the grammar text
    and lark's version); the old grammar's analysis is never loaded for the new one."""
    monkeypatch.delenv("ARCHDSL_NO_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    original = parser._grammar_text()
    changed = original.replace("_LET.2: /let(?!\\w)/", "_LET.2: /val(?!\\w)/")
    assert changed != original
    with_let, with_val = "arch a()\nlet x = 1\n", "arch a()\nval x = 1\n"
    parser._plain_lark().parse(with_let, start="start")  # caches the grammar in use
    monkeypatch.setattr(parser, "_grammar_text", lambda: changed)
    for _ in range(2):  # analysed afresh (and cached), then loaded from its own cache file
        changed_lark = parser._plain_lark()
        changed_lark.parse(with_val, start="start")
        with pytest.raises(lark.exceptions.UnexpectedInput):
            changed_lark.parse(with_let, start="start")
    assert len(list((tmp_path / "archdsl").glob("grammar-*.lark"))) == 2
    monkeypatch.setattr(parser, "_grammar_text", lambda: original)
    parser._plain_lark().parse(with_let, start="start")
