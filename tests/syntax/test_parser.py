"""Parsing: AST shape and source spans."""

from __future__ import annotations

import pytest

from archdsl.errors import ArchError
from archdsl.syntax import ast, parse_set_arg, parse_text
from archdsl.syntax.parser import SYNTAX_EXAMPLES

SRC = """arch net(dims=[16,32], classes: int = 10)
input 3x32x32
block unit(c, s=1):
    residual: conv3/s(c) bn relu conv3(c) bn
    relu
stem conv3(dims[0]) bn relu
stage unit x[2,2] heads=[1,2]
head gap fc(classes)
variant big dims=[32,64]
"""


def test_program_structure():
    p = parse_text(SRC, "net.arch")
    assert p.name == "net"
    assert [x.name for x in p.params] == ["dims", "classes"]
    assert p.params[1].type == "int"
    assert list(p.blocks) == ["unit"]
    assert [s.kind for s in p.sections] == ["stem", "stage", "head"]
    assert list(p.variants) == ["big"]


def test_a_variant_may_be_named_by_a_number():
    """ResMLP-12 is `variant 12`: a variant's name is a word or a whole number."""
    p = parse_text("arch net(depth=1)\ninput 3x32x32\nstem conv3(8)\nvariant 12 depth=12\nvariant 24: depth=24\n"
                   "variant big_24 depth=24\n", "net.arch")
    assert list(p.variants) == ["12", "24", "big_24"]
    v = p.variants["24"]
    assert (v.span.line, v.span.column, v.span.length) == (5, 9, 2)
    assert [(a.name, a.span.column) for a in v.assigns] == [("depth", 13)]


def test_spans_point_at_tokens():
    p = parse_text(SRC, "net.arch")
    relu = p.sections[0].chain.items[2]
    assert isinstance(relu, ast.Layer) and relu.word == "relu"
    assert (relu.span.line, relu.span.column, relu.span.length) == (6, 24, 4)
    assert relu.span.source_line == "stem conv3(dims[0]) bn relu"


def test_stride_and_args():
    p = parse_text(SRC, "net.arch")
    res = p.blocks["unit"].body[0]
    assert isinstance(res, ast.Struct) and res.kind == "residual"
    conv = res.body[0].items[0]
    assert conv.word == "conv3" and isinstance(conv.stride, ast.Name) and conv.stride.id == "s"
    assert isinstance(conv.args[0], ast.Name)


def test_stage_repeat_and_options():
    p = parse_text(SRC, "net.arch")
    items = p.sections[1].chain.items
    assert isinstance(items[0], ast.Repeat) and items[0].per_stage
    assert isinstance(items[1], ast.Option) and items[1].name == "heads"


def test_decimal_size_words_and_shapes():
    p = parse_text("arch t()\ninput 3x8x8\nstem conv1x7(4) se0.25\n")
    words = [i.word for i in p.sections[0].chain.items]
    assert words == ["conv1x7", "se0.25"]


def test_set_arg():
    name, expr, span = parse_set_arg("depths=[2,2,6,2]")
    assert name == "depths" and isinstance(expr, ast.ListExpr) and span.file == "--set"


@pytest.mark.parametrize("text", ["arch t(\n", "arch t()\nstem conv3(\n", "arch t()\nstem ]\n"])
def test_syntax_errors_are_arch_errors(text):
    with pytest.raises(ArchError) as e:
        parse_text(text, "t.arch")
    assert e.value.span.file == "t.arch"


@pytest.mark.parametrize("hint,example", [(h, x) for h, xs in SYNTAX_EXAMPLES.items() for x in xs])
def test_syntax_examples_fail_and_label_themselves(hint, example):
    """Each example of a typical slip is a syntax error whose hint is its own label."""
    with pytest.raises(ArchError) as info:
        parse_text(example, "ex.arch")
    assert info.value.hint == hint


@pytest.mark.parametrize("text,hint", [
    ("arch net(w=1)\ninput 3x32x32\nstem conv3(16, g=2 bn relu\n", "an argument list is not closed"),
    ("arch net()\ninput 3x32x32\nstage dw7 ln x[3 3 9 3]\n", "list items are separated by commas"),
    ("arch resnet 18\n", "the first line is `arch NAME"),
    ("arch net(w=1)\ninput 3x32x32\nstem relu\nvariant big w 2\n", "a variant is `variant NAME"),
])
def test_new_programs_get_the_example_hint(text, hint):
    with pytest.raises(ArchError) as info:
        parse_text(text, "user.arch")
    assert info.value.hint.startswith(hint)


@pytest.mark.parametrize("text,word", [
    ("archnet(classes=10)\ninput 3x16x16\nstem conv3(8)\n", "archnet"),
    ("arch a(classes=10)\ninput3x16x16\nstem conv3(8)\n", "input3x16x16"),
    ("arch a(classes=10)\ninput 3x16x16\nletwidth = 8\nstem conv3(8)\n", "letwidth"),
    ("arch a(classes=10)\ninput 3x16x16\nstem conv3(8)\nvarianttiny classes=5\n", "varianttiny"),
    ("arch a(classes=10)\ninput 3x16x16\nlet w = [c for c inws]\nstem conv3(8)\n", "inws"),
    ("arch a(classes=10)\ninput 3x16x16\nlet w = 1 if true elsex\nstem conv3(8)\n", "elsex"),
])
def test_keywords_end_at_a_word_boundary(text, word):
    """A keyword run into the next word is that one word (an error where a keyword is
    wanted), never the keyword and a name."""
    with pytest.raises(ArchError) as e:
        parse_text(text, "t.arch")
    assert str(e.value.message) == f"unexpected `{word}`"
    assert e.value.span.source_line[e.value.span.column - 1:].startswith(word)
    assert e.value.hint.startswith("write `")


def test_keyword_spellings_are_names_where_no_keyword_is_wanted():
    p = parse_text("arch t(input=3, default=2, let_w=1)\ninput 3x8x8\nlet in_c = input + default\n"
                   "stem conv3(in_c) ifnet\nvariant forty input=4\n")
    assert [x.name for x in p.params] == ["input", "default", "let_w"]
    assert [i.word for i in p.sections[0].chain.items] == ["conv3", "ifnet"]
    assert list(p.variants) == ["forty"]


def test_grammar_conflicts_are_the_known_one():
    """lark's LALR resolves a shift/reduce conflict silently (as a shift, logged at debug
    level). The grammar has exactly one, and it is meant: after an option's value, `[` goes on
    the expression (`c=dims[0]`, an index), never starts a group. Structures as chain items
    (`[residual: ...] x2`, `residual: add: [a] [b]`) add none."""
    import logging

    from lark import logger

    from archdsl.syntax.parser import _plain_lark

    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    handler, level = Keep(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        _plain_lark(cache=False)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    conflicts = [(r, records[k + 1].strip()) for k, r in enumerate(records) if "conflict" in r.lower()]
    assert conflicts == [("Shift/Reduce conflict for terminal LSQB: (resolving as shift)", "* <power : postfix>")], conflicts
    p = parse_text("arch t(d=[1])\ninput 3x8x8\nstem relu\nstage relu x[1] c=d [relu]\n")
    opt = p.sections[1].chain.items[-1]
    assert isinstance(opt, ast.Option) and isinstance(opt.value, ast.Index)
