"""`archdsl fmt`: meaning-preserving, idempotent, and every zoo file is already formatted."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings

from archdsl.cli import main
from archdsl.errors import ArchError, Span
from archdsl.syntax import parse_text
from archdsl.syntax.parser import parse_source
from archdsl.syntax.format import format_source
from tests.conftest import ZOO
from tests.test_fuzz import SEED_NAMES, mutated

ZOO_FILES = sorted(ZOO.glob("*.arch")) + sorted(ZOO.glob("blocks/*.arch"))


def meaning(node):
    """An AST with positions and source text removed: what the program says."""
    if isinstance(node, Span):
        return None
    if dataclasses.is_dataclass(node):
        return (type(node).__name__,) + tuple(
            (f.name, meaning(getattr(node, f.name))) for f in dataclasses.fields(node) if f.name not in ("span", "source", "file", "kwarg_spans")
        )
    if isinstance(node, dict):
        return tuple((k, meaning(v)) for k, v in node.items())
    if isinstance(node, (list, tuple)):
        return tuple(meaning(v) for v in node)
    return node


@pytest.mark.parametrize("path", ZOO_FILES, ids=[p.name for p in ZOO_FILES])
def test_zoo_file_is_formatted_and_meaning_kept(path):
    text = path.read_text()
    out = format_source(text)
    assert out == text, f"run: archdsl fmt {path}"
    lib = path.parent.name == "blocks"
    assert meaning(parse_source(out, library=lib)) == meaning(parse_source(text, library=lib))


def test_messy_file_is_normalised():
    messy = "arch  t( a = 1,b=[1, 2] )\ninput 3x8x8\n\n\n\nblock u( c ):\n  residual :  conv3( c ) bn\n  relu\nstem   u( 4 )   # note\nhead gap  fc( 10 )\nvariant x   a=2\nvariant yy a = 3\n"
    out = format_source(messy)
    assert out == (
        "arch t(a=1, b=[1,2])\ninput 3x8x8\n\nblock u(c):\n    residual: conv3(c) bn\n    relu\n"
        "stem  u(4)  # note\nhead  gap fc(10)\nvariant x   a=2\nvariant yy  a=3\n"
    )
    assert meaning(parse_text(out)) == meaning(parse_text(messy))
    assert format_source(out) == out


def test_let_and_typed_params_keep_spaced_equals():
    out = format_source("arch t(n: int=3)\nlet w=n*2+1\ninput 3x8x8\nstem conv3(w)\n")
    assert "arch t(n: int = 3)" in out and "let w = n * 2 + 1" in out


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(mutated())
def test_fuzzed_inputs_keep_meaning(case):
    try:
        before = parse_text(case[1])
    except ArchError:
        return
    out = format_source(case[1])
    assert meaning(parse_text(out)) == meaning(before)
    assert format_source(out) == out


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(mutated(SEED_NAMES))
def test_fuzzed_seed_inputs_keep_meaning(case):
    """Mutations of tests/fuzz_seeds/ (structures as chain items, nested, open)."""
    test_fuzzed_inputs_keep_meaning.hypothesis.inner_test(case)


def test_fmt_check_cli(tmp_path, capsys):
    p = tmp_path / "a.arch"
    p.write_text("arch t()\ninput 3x8x8\nstem   conv3(4)\n")
    assert main(["fmt", "--check", str(p)]) == 1
    assert main(["fmt", str(p)]) == 0
    assert p.read_text() == "arch t()\ninput 3x8x8\nstem  conv3(4)\n"
    assert main(["fmt", "--check", str(p)]) == 0


def test_fmt_leaves_bad_file_untouched(tmp_path, capsys):
    p = tmp_path / "bad.arch"
    p.write_text("arch t(\n")
    assert main(["fmt", str(p)]) == 1
    assert p.read_text() == "arch t(\n"


def test_header_without_space_is_an_error_not_a_library():
    # `archt(` was once read as `arch t(` by the parser while the formatter's own lexer took the
    # file for a header-less block library; keywords now end at a word boundary, and the
    # formatter reads the parser's tokens
    text = "archt()\ninput 3x8x8\nstem conv3(4)\n"
    for run in (parse_text, format_source):
        with pytest.raises(ArchError, match="unexpected `archt`") as e:
            run(text)
        assert (e.value.span.line, e.value.span.column) == (1, 1)


def test_formatter_reads_the_parsers_tokens():
    # words the old regex lexer split differently from lark: a keyword spelled as a parameter
    # name, a comment after a string holding `#`, a line joined with `\`
    text = ('arch t(input=3, default="a#b")  # c\ninput 3x8x8\nlet  n=input*2\n'
            "stem conv3(n)  \\\n   bn\nhead gap fc(10)\nvariant  v   input=4\n")
    out = format_source(text)
    assert out == ('arch t(input=3, default="a#b")  # c\ninput 3x8x8\nlet n = input * 2\n'
                   "stem conv3(n)  \\\n   bn\nhead  gap fc(10)\nvariant v  input=4\n")
    assert meaning(parse_text(out)) == meaning(parse_text(text))
    assert format_source(out) == out


def test_a_group_after_a_layer_is_spaced_an_index_is_not():
    text = ("arch t(dims=[8,16])\ninput 3x8x8\nblock b(c, s):\n    y = bn relu[avgpool2]x(s>1) conv3(c)[relu]x1\n"
            "    add: [y] [conv1(c)]\nstem conv3(8)[bn relu] x2\nstage b x[1,1] c=dims[i] strides=[1,2]\nhead gap fc(3)\n")
    out = format_source(text)
    assert "    y = bn relu [avgpool2] x(s > 1) conv3(c) [relu] x1\n" in out
    assert "stem  conv3(8) [bn relu] x2\n" in out
    assert "stage b x[1,1] c=dims[i] strides=[1,2]\n" in out
    assert meaning(parse_text(out)) == meaning(parse_text(text))
    assert format_source(out) == out
