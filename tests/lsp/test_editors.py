"""The editor files: the TextMate grammar is current with the op registry, and its patterns
match what they name; the VS Code extension points at the grammar and starts the server."""

from __future__ import annotations

import importlib.util
import json
import re

from tests.conftest import ROOT


def _script():
    spec = importlib.util.spec_from_file_location("make_textmate", ROOT / "scripts" / "make_textmate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_grammar_files_are_current():
    mod = _script()
    text = mod.render()
    for path in mod.OUTPUTS:
        assert path.read_text() == text, "run: python scripts/make_textmate.py"


def test_grammar_patterns_match_what_they_name():
    g = json.loads((ROOT / "editors" / "textmate" / "arch.tmLanguage.json").read_text())
    repo = g["repository"]
    # the patterns use no Oniguruma-only syntax, so Python's re reads them the same way
    layer = re.compile(repo["layer"]["match"])
    line = "stage dw7 ln mlp4 se0.25 conv3(c, g=4) x[3,3,9,3]  # not_a_layer"
    found = [m.group(0) for m in layer.finditer(line)]
    assert found[:5] == ["dw7", "ln", "mlp4", "se0.25", "conv3"]
    assert not layer.search("dims widths c0 stage")
    assert re.search(repo["repeat"]["match"], "x[3,3,9,3]") and re.search(repo["repeat"]["match"], "mbconv x3")
    assert re.search(repo["structure"]["match"], "    residual:")
    structure = re.compile(repo["structure"]["match"])  # structures as chain items, nested on one line
    assert [m.group(1) for m in structure.finditer("    [residual(scale=1): add: [a] [b]] x(s == 1)")] == ["residual", "add"]
    assert re.match(repo["declaration"]["patterns"][1]["match"], "block fire(s, e):").group(2) == "fire"


def test_vscode_extension_uses_the_grammar_and_the_server():
    pkg = json.loads((ROOT / "editors" / "vscode" / "package.json").read_text())
    (lang,) = pkg["contributes"]["languages"]
    assert lang["extensions"] == [".arch"]
    (gram,) = pkg["contributes"]["grammars"]
    assert (ROOT / "editors" / "vscode" / gram["path"]).is_file() and gram["scopeName"] == "source.arch"
    assert pkg["contributes"]["configuration"]["properties"]["archdsl.server.command"]["default"] == ["archdsl", "lsp"]
    json.loads((ROOT / "editors" / "vscode" / "language-configuration.json").read_text())
    assert "LanguageClient" in (ROOT / "editors" / "vscode" / pkg["main"]).read_text()
