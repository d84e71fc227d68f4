"""Per-layer rows of the summary (issue 20): `archdsl.summary(...).layers`, `compile --layers`,
the notebook table. The rows come from the same per-node costs as the totals."""

from __future__ import annotations

import json

import pytest
import torch

import archdsl
from archdsl.backends.summary import Summary
from archdsl.backends.load import build_module
from archdsl.cli import main, zoo_files
from tests.conftest import zoo

KEYS = {"name", "variant", "params", "macs", "input_shape", "output_shape", "nodes", "stages", "parameters"}


@pytest.mark.parametrize("path", zoo_files(), ids=[p.stem for p in zoo_files()])
def test_layer_rows_add_up_to_the_totals(path):
    s = archdsl.summary(path)
    assert isinstance(s, dict) and isinstance(s, Summary) and KEYS <= set(s)
    assert len(s.layers) == s["nodes"]
    assert sum(r["params"] for r in s.layers) == s["params"]
    assert sum(r["macs"] for r in s.layers) == s["macs"]
    for section in s["stages"]:
        rows = [r for r in s.layers if r["section"] == section["name"]]
        assert sum(r["params"] for r in rows) == section["params"] and sum(r["macs"] for r in rows) == section["macs"]
        assert rows[-1]["output_shape"] == section["output_shape"]


@pytest.mark.parametrize("name", ["resnet18", "convnext_tiny", "mobilenet_v3_small", "vit_tiny"])
def test_layer_params_are_the_built_modules_params(name):
    g = archdsl.compile_graph(name)
    with torch.device("meta"):
        model = build_module(g)
    rows = archdsl.summary(name).layers
    checked = 0
    for r in rows:
        if " (" in r["module"]:  # an op without a module of its own (`+`, `cat`)
            assert r["params"] == 0
            continue
        try:
            own = model.get_submodule(r["module"])
            built = sum(p.numel() for p in own.parameters())
        except AttributeError:  # a bare parameter (class token, position embedding)
            built = model.get_parameter(r["module"]).numel()
        assert built == r["params"], r
        checked += 1
    assert checked > len(rows) // 2


def test_compile_layers_text_and_json(capsys):
    assert main(["compile", str(zoo("resnet.arch")), "-v", "resnet18", "--layers"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("resnet (resnet18)")
    lines = out.splitlines()
    assert any(line.split()[:2] == ["stem.conv", "conv7/2(64)"] and line.split()[-2:] == ["9,408", "118,013,952"] for line in lines)
    assert lines[-1].split() == ["total", "11,689,512", "1,814,073,344"]

    assert main(["compile", str(zoo("resnet.arch")), "-v", "resnet18", "--json"]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert "layers" not in plain  # --json is unchanged without --layers
    assert main(["compile", str(zoo("resnet.arch")), "-v", "resnet18", "--json", "--layers"]) == 0
    with_layers = json.loads(capsys.readouterr().out)
    layers = with_layers.pop("layers")
    assert with_layers == plain
    assert layers[0] == {"module": "stem.conv", "op": "conv", "token": "conv7/2(64)", "section": "stem",
                         "output_shape": [1, 64, 112, 112], "params": 9408, "macs": 118013952}


def test_summary_shows_as_a_table_in_notebooks():
    s = archdsl.summary("resnet18")
    page = s._repr_html_()
    assert page.startswith("<div class='archdsl-summary'><b>resnet (resnet18)</b>")
    assert "11,689,512" in page and page.count("<tr>") == 1 + len(s["stages"]) + 1 + len(s.layers)
    assert "<td style='text-align:left'>stem.conv</td>" in page
    assert json.loads(json.dumps(s)) == dict(s)  # still the plain dict for JSON
