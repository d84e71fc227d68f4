"""`archdsl lsp` over stdio: a real server process spoken to in JSON-RPC."""

from __future__ import annotations

import os
import re
import sys

import pytest

pytest.importorskip("pygls")

from archdsl.lsp.stdio_client import LspClient  # noqa: E402
from tests.conftest import ROOT, zoo  # noqa: E402


@pytest.fixture(scope="module")
def client():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with LspClient([sys.executable, "-m", "archdsl", "lsp"], cwd=ROOT, env=env) as c:
        caps = c.initialize(ROOT)["capabilities"]
        assert caps["hoverProvider"] and caps["definitionProvider"] and caps["documentFormattingProvider"]
        yield c


def _numbers(text: str, label: str) -> int:
    m = re.search(label + r" \*\*([\d,]+)", text)
    assert m, f"no `{label}` in hover:\n{text}"
    return int(m.group(1).replace(",", ""))


def test_one_error_is_one_diagnostic_at_its_range(client, tmp_path):
    src = zoo("convnext.arch").read_text().replace("stage dw7 ln mlp4", "stage dw7 ln mlpp4")
    path = tmp_path / "broken.arch"
    path.write_text(src)
    uri = client.open(path)
    diags = client.wait_for("textDocument/publishDiagnostics", uri)["diagnostics"]
    assert len(diags) == 1
    (d,) = diags
    line = src.splitlines().index(next(ln_ for ln_ in src.splitlines() if "mlpp4" in ln_))
    col = src.splitlines()[line].index("mlpp4")
    assert d["range"] == {"start": {"line": line, "character": col}, "end": {"line": line, "character": col + 5}}
    assert d["message"].startswith("unknown layer `mlpp4`") and "hint: did you mean `mlp4`" in d["message"]
    assert d["severity"] == 1
    # fixing the text clears it (after the debounce)
    client.change(uri, src.replace("mlpp4", "mlp4"), 2)
    assert client.wait_for("textDocument/publishDiagnostics", uri)["diagnostics"] == []


def test_parse_error_and_a_variant_only_error(client, tmp_path):
    path = tmp_path / "two.arch"
    path.write_text("arch t(c=8)\ninput 3x8x8\nstem conv3(c) bn relu\nhead gap fc(10)\nvariant a c=8\nvariant b c=-1\n")
    uri = client.open(path)
    (d,) = client.wait_for("textDocument/publishDiagnostics", uri)["diagnostics"]
    assert d["message"].startswith("in variant `b`:")
    text = "arch t(c=8)\ninput 3x8x8\nstem conv3(c bn\n"
    client.change(uri, text, 2)
    (d,) = client.wait_for("textDocument/publishDiagnostics", uri)["diagnostics"]
    from archdsl import ArchError
    from archdsl.syntax import parse_text

    with pytest.raises(ArchError) as e:  # the message and place the CLI gives
        parse_text(text, str(path))
    err = e.value
    assert d["message"] == f"{err.message}\nhint: {err.hint}"
    assert d["range"]["start"] == {"line": err.span.line - 1, "character": err.span.column - 1}


def test_hover_on_a_convnext_layer_matches_the_ir_and_the_summary(client):
    import archdsl
    from archdsl import ops

    path = zoo("convnext.arch")
    uri = client.open(path)
    client.wait_for("textDocument/publishDiagnostics", uri)
    lines = path.read_text().splitlines()
    stem = next(k for k, ln_ in enumerate(lines) if ln_.startswith("stem"))
    h = client.at("textDocument/hover", uri, stem, lines[stem].index("conv4") + 1)["contents"]["value"]
    g = archdsl.compile_graph(path)  # the first variant, as the server
    conv = next(n for n in g if n.op == "conv")
    ins = [g.nodes[i].shape for i in conv.inputs]
    assert "output **" + "×".join(map(str, conv.shape)) + "**" in h
    assert _numbers(h, "params") == ops.get("conv").params(conv.attrs, ins, conv.shape) == 4 * 4 * 3 * 96 + 96
    assert _numbers(h, "MACs") == ops.get("conv").macs(conv.attrs, ins, conv.shape)

    # a repeated token: one row per stage, totals over all instances
    stage = next(k for k, ln_ in enumerate(lines) if ln_.startswith("stage"))
    h = client.at("textDocument/hover", uri, stage, lines[stage].index("dw7"))["contents"]["value"]
    dws = [n for n in g if n.op == "dw"]
    assert f"**{len(dws)} instances**" in h
    assert _numbers(h, "params") == sum(ops.get("dw").params(n.attrs, [g.nodes[i].shape for i in n.inputs], n.shape) for n in dws)
    assert "| stage2 | 9 | 384×14×14 |" in h

    # the stage keyword: the same rows as `archdsl compile --json`
    h = client.at("textDocument/hover", uri, stage, 2)["contents"]["value"]
    s = archdsl.summary(path)
    for row in s["stages"]:
        if row["name"].startswith("stage"):
            shape = "×".join(map(str, row["output_shape"][1:]))
            assert f"| {row['name']} | {row['blocks']} | {shape} | {row['params']:,} " in h


def test_hover_on_names_and_variants(client):
    path = zoo("convnext.arch")
    uri = client.open(path)
    lines = path.read_text().splitlines()
    stem = next(k for k, ln_ in enumerate(lines) if ln_.startswith("stem"))
    h = client.at("textDocument/hover", uri, stem, lines[stem].index("dims") + 1)["contents"]["value"]
    assert "`dims[0] = 96`" in h and "`dims = [96,192,384,768]`" in h
    small = next(k for k, ln_ in enumerate(lines) if ln_.startswith("variant small"))
    h = client.at("textDocument/hover", uri, small, len("variant s"))["contents"]["value"]
    import archdsl

    assert _numbers(h, "params") == archdsl.summary(path, "small")["params"]


def test_completion_offers_sized_layer_tokens(client, tmp_path):
    path = tmp_path / "c.arch"
    text = "arch c(w=16)\ninput 3x32x32\nstem conv3(w) bn relu\nstage dw3 ln mlp\n"
    path.write_text(text)
    uri = client.open(path)
    res = client.at("textDocument/completion", uri, 3, len("stage dw3 ln mlp"))
    labels = [it["label"] for it in res["items"]]
    assert "mlp4" in labels and all(ln_.startswith("mlp") for ln_ in labels)
    res = client.at("textDocument/completion", uri, 2, len("stem conv3("))
    labels = [it["label"] for it in res["items"]]
    assert {"g=", "bias=", "w"} <= set(labels)


def test_definition_and_symbols(client):
    path = zoo("efficientnet.arch")
    uri = client.open(path)
    lines = path.read_text().splitlines()
    stage = next(k for k, ln_ in enumerate(lines) if ln_.startswith("stage"))
    (loc,) = client.at("textDocument/definition", uri, stage, lines[stage].index("mbconv") + 2)
    assert loc["uri"] == (zoo("blocks") / "mobile.arch").resolve().as_uri()
    lib_line = (zoo("blocks") / "mobile.arch").read_text().splitlines()[loc["range"]["start"]["line"]]
    assert lib_line.startswith("block mbconv")
    # a name in an expression -> its let; a `use` path -> the library
    use_line = next(k for k, ln_ in enumerate(lines) if ln_.startswith("use"))
    (loc,) = client.at("textDocument/definition", uri, use_line, 6)
    assert loc["uri"].endswith("/blocks/mobile.arch")
    (loc,) = client.at("textDocument/definition", uri, stage, lines[stage].index("widths") + 1)
    assert lines[loc["range"]["start"]["line"]].startswith("let widths")
    syms = client.request("textDocument/documentSymbol", {"textDocument": {"uri": uri}})
    names = [s["name"] for s in syms]
    assert names[0] == "efficientnet" and {"stem", "stage", "head", "variant b0", "variant b7", "widths"} <= set(names)


def test_formatting_is_archdsl_fmt(client, tmp_path):
    from archdsl.syntax.format import format_source

    path = tmp_path / "f.arch"
    text = "arch f(c=8)\ninput 3x8x8\nstem   conv3( c )  bn relu\nhead gap fc(10)\n"
    path.write_text(text)
    uri = client.open(path)
    (edit,) = client.request("textDocument/formatting", {"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": True}})
    assert edit["newText"] == format_source(text)
