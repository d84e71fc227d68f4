"""The analysis behind the server, in process: hover text, errors from libraries, the outline."""

from __future__ import annotations

import pytest

pytest.importorskip("lsprotocol")

from archdsl.lsp.analysis import Analysis  # noqa: E402
from archdsl.lsp.diagnostics import diagnostics  # noqa: E402
from archdsl.lsp.hover import hover_markdown  # noqa: E402
from archdsl.lsp.symbols import document_symbols  # noqa: E402
from tests.conftest import zoo  # noqa: E402


def _analyse(path):
    return Analysis(path.read_text(), str(path.resolve()), 1)


def _at(a, word, startswith):
    line = next(k for k, text in enumerate(a.lines, 1) if text.startswith(startswith))
    return line, a.lines[line - 1].index(word) + 1


def test_block_call_hover_counts_instances_per_stage():
    import archdsl

    a = _analyse(zoo("efficientnet.arch"))
    text, ref = hover_markdown(a, *_at(a, "mbconv", "stage"))
    s = archdsl.summary(zoo("efficientnet.arch"), "b0")
    assert "**16 instances**" in text and f"MACs **{sum(r['macs'] for r in s['stages'] if r['name'].startswith('stage')):,}" in text
    assert "| stage5 | 4 | 192×7×7 |" in text


def test_block_parameter_hover_shows_each_instance():
    path = zoo("regnet.arch")
    a = _analyse(path)
    line = next(k for k, t in enumerate(a.lines, 1) if "g=c//gw" in t)
    col = a.lines[line - 1].index("g=c//gw") + 3  # `c`
    text, _ = hover_markdown(a, line, col)
    assert "parameter of block `bottleneck`" in text and "| stage0 | 32 | 1 |" in text and "| stage3 | 384 | 12 |" in text


def test_variant_hover_compiles_that_variant():
    import archdsl

    a = _analyse(zoo("resnet.arch"))
    text, _ = hover_markdown(a, *_at(a, "resnet101", "variant resnet101"))
    assert f"params **{archdsl.summary(zoo('resnet.arch'), 'resnet101')['params']:,}" in text


def test_error_in_a_used_library_is_shown_at_the_use_line(tmp_path):
    (tmp_path / "lib.arch").write_text("block b(c):\n    conv3(c) bn reluu\n")
    f = tmp_path / "net.arch"
    f.write_text('arch n(c=8)\ninput 3x8x8\nuse "lib.arch"\nstem b(c)\nhead gap fc(10)\n')
    (d,) = diagnostics(_analyse(f))
    assert d.range.start.line == 2 and "unknown layer `reluu`" in d.message and "lib.arch:2:" in d.message
    assert d.related_information[0].location.uri.endswith("/lib.arch")


def test_outline_of_a_block_file():
    a = _analyse(zoo("regnet.arch"))
    names = [(s.name, s.kind) for s in document_symbols(a)]
    assert names[0][0] == "regnet" and ("bottleneck", 12) in names and ("variant y_8gf", 22) in names
    block = next(s for s in document_symbols(a) if s.name == "bottleneck")
    assert block.range.end.line - block.range.start.line == 6  # the header and its six body lines


def test_a_bug_in_archdsl_is_reported_in_the_editor(monkeypatch):
    """An exception that is not an ArchError (a bug) becomes one diagnostic asking for a report,
    instead of ending the server."""
    def broken(self):
        raise RuntimeError("boom")

    monkeypatch.setattr(Analysis, "_parse", broken)
    a = Analysis("arch t()\n", "t.arch", 1)
    (error, _), = a.errors
    assert error.message == "internal error in archdsl (RuntimeError: boom); please report it"
