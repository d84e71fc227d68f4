"""docs/layers.md ("Write your own layer") is true: its example compiles, the class it shows
is the one `compile -o` writes, its reference check runs, and its error is the real one."""

from __future__ import annotations

import re

import archdsl
from archdsl.errors import ArchError
from tests.conftest import ROOT

PAGE = (ROOT / "docs" / "layers.md").read_text()


def _block_after(marker: str, lang: str) -> str:
    start = PAGE.index(marker)
    m = re.compile(rf"```{lang}\n(.*?)```", re.S).search(PAGE, start)
    return m.group(1)


def test_the_class_shown_is_the_class_written(monkeypatch):
    monkeypatch.chdir(ROOT)  # the command of the page, run where the page runs it
    shown = _block_after("<!-- generated: the Grn class", "python")
    source = archdsl.to_source("examples/grn.arch")
    written = source[source.index("class Grn(nn.Module):"):source.index("\n\n\nclass ", source.index("class Grn(nn.Module):"))]
    assert shown.strip() == written.strip()


def test_the_reference_check_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    code = _block_after("## Checking it against a reference", "python")
    exec(compile(code, "docs/layers.md", "exec"), {})  # the page's own example: it must run and its assert hold


def test_the_error_shown_is_the_real_one():
    shown = _block_after("## Mistakes are located", "text")
    text = 'arch net()\ninput 8x6x6\nlayer g():\n    m = mean(x, "w")\n    m @ x\nstem g\nhead gap fc(3)\n'
    try:
        archdsl.compile_graph(text)
    except ArchError as e:
        message = str(e).replace("<string>", "net.arch")
    else:  # pragma: no cover - the test fails below
        message = ""
    assert shown.strip() == message.strip()


def test_the_included_lines_are_the_layer_and_its_use():
    lines = (ROOT / "examples" / "grn.arch").read_text().splitlines()
    assert lines[7].startswith("layer grn(") and lines[12].lstrip().startswith("x + gamma")
    assert lines[14].startswith("stem") and lines[17].startswith("head")


def test_the_windows_example_is_maxvits_own():
    shown = _block_after("Values may have more axes than an image", "text")
    assert shown in (ROOT / "zoo" / "maxvit.arch").read_text()
