"""`archdsl diff` / `archdsl.diff`: stage-by-stage changes between two architectures."""

from __future__ import annotations

import json

import pytest

import archdsl
from archdsl.cli import main
from archdsl.errors import ArchError
from tests.conftest import ROOT, zoo

WALK = ROOT / "docs" / "tutorial" / "resnet_to_convnext"


def _row(d, name):
    return next(r for r in d["sections"] if r["name"] == name)


def test_convnext_tiny_vs_small_is_stage2_depth_only():
    d = archdsl.diff(zoo("convnext.arch"), zoo("convnext.arch"), "tiny", "small")
    tiny, small = archdsl.summary(zoo("convnext.arch"), "tiny"), archdsl.summary(zoo("convnext.arch"), "small")
    assert d["changed"]
    assert d["params_delta"] == small["params"] - tiny["params"] != 0
    assert d["macs_delta"] == small["macs"] - tiny["macs"] != 0
    s2 = _row(d, "stage2")
    assert (s2["a"]["depth"], s2["b"]["depth"]) == (9, 27)
    assert set(s2["changed"]) == {"depth", "params", "macs"}
    assert s2["params_delta"] == d["params_delta"]
    assert [r["name"] for r in d["sections"] if r["changed"]] == ["stage2"]
    assert d["parameters"]["depths"] == [[3, 3, 9, 3], [3, 3, 27, 3]]
    # the per-section figures add up to the summaries' totals on both sides
    assert sum(r["a"]["params"] for r in d["sections"]) == tiny["params"]
    assert sum(r["b"]["macs"] for r in d["sections"]) == small["macs"]


def test_resnet50_vs_convnext_tiny():
    d = archdsl.diff(zoo("resnet.arch"), zoo("convnext.arch"), "resnet50", "tiny")
    r50, cnt = archdsl.summary(zoo("resnet.arch"), "resnet50"), archdsl.summary(zoo("convnext.arch"), "tiny")
    assert d["params_delta"] == cnt["params"] - r50["params"]
    assert d["macs_delta"] == cnt["macs"] - r50["macs"]
    assert [r["name"] for r in d["sections"]] == ["stem", "stage0", "stage1", "stage2", "stage3", "head"]
    stem = _row(d, "stem")
    assert stem["a"]["tokens"] == ["conv7/2(64)", "bn", "relu", "maxpool3/2"]
    assert stem["b"]["tokens"] == ["conv4/4(96)", "ln"]
    assert [_row(d, f"stage{i}")["a"]["width"] for i in range(4)] == [256, 512, 1024, 2048]
    assert [_row(d, f"stage{i}")["b"]["width"] for i in range(4)] == [96, 192, 384, 768]
    assert [_row(d, f"stage{i}")["b"]["depth"] for i in range(4)] == [3, 3, 9, 3]
    s1 = _row(d, "stage1")
    assert s1["a"]["down"] == [] and s1["b"]["down"] == ["ln", "conv2/2"]
    assert "dw7" in s1["b"]["tokens"] and "dw7" not in s1["a"]["tokens"]
    assert s1["a"]["output_shape"] == [512, 28, 28] and s1["b"]["output_shape"] == [192, 28, 28]
    assert {"tokens", "down", "width", "depth", "output_shape"} <= set(s1["changed"])
    text = archdsl.backends.diff.format_diff(d)
    assert "stage2" in text and "6 -> 9" in text and "+ down: ln conv2/2" in text


def test_walk_step_diff_names_the_change():
    d = archdsl.diff(WALK / "05_move_up_depthwise.arch", WALK / "06_kernel7.arch")
    for i in range(4):
        row = _row(d, f"stage{i}")
        assert row["changed"] == ["tokens", "params", "macs"]
        assert row["a"]["tokens"][0].startswith("dw3") and row["b"]["tokens"][0].startswith("dw7")
    assert not _row(d, "stem")["changed"] and not _row(d, "head")["changed"]


@pytest.mark.parametrize("file,variant", [("convnext.arch", "tiny"), ("resnet.arch", "resnet50")])
def test_a_file_against_itself_shows_no_changes(file, variant, capsys):
    d = archdsl.diff(zoo(file), zoo(file), variant, variant)
    assert not d["changed"] and d["params_delta"] == 0 and d["macs_delta"] == 0 and d["parameters"] == {}
    assert all(not r["changed"] for r in d["sections"])
    assert main(["diff", str(zoo(file)), str(zoo(file)), "--variant-a", variant, "--variant-b", variant]) == 0
    assert "no changes" in capsys.readouterr().out


def test_cli_json_is_one_object(capsys):
    args = ["diff", str(zoo("convnext.arch")), str(zoo("convnext.arch")), "--variant-b", "small", "--json"]
    assert main(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["a"]["variant"] == "tiny" and d["b"]["variant"] == "small"
    assert _row(d, "stage2")["b"]["depth"] == 27


def test_cli_table(capsys):
    assert main(["diff", str(zoo("convnext.arch")), str(zoo("convnext.arch")), "--variant-b", "small"]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("stage2"))
    assert "9 -> 27" in line
    assert "depths: [3, 3, 9, 3] -> [3, 3, 27, 3]" in out


@pytest.mark.parametrize(
    "argv,expected",
    [
        (["diff", "zoo/convnext.arch", "missing.arch"], "missing.arch:1:1: error: no such file"),
        (["diff", "zoo/convnext.arch", "zoo/convnext.arch", "--variant-b", "huge"], "error: unknown variant `huge`"),
        (["diff", "zoo/convnext.arch"], "archdsl: error:"),
    ],
)
def test_errors_are_located_and_exit_1(argv, expected, capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err


def test_api_errors_are_arch_errors(tmp_arch):
    bad = tmp_arch("arch net()\ninput 3x8x8\nstem conv3(4) rleu\n")
    with pytest.raises(ArchError) as e:
        archdsl.diff(zoo("convnext.arch"), bad)
    assert e.value.span.line == 3


def test_spellings_of_the_same_layer_are_not_a_change(tmp_path, capsys):
    """`dw7/1` is `dw7`, `conv3(c)` with c = 96 is `conv3(96)` (issue 20, bug 10)."""
    text = zoo("convnext.arch").read_text()
    respelled = tmp_path / "convnext.arch"
    respelled.write_text(text.replace("stage dw7 ln", "stage dw7/1 ln").replace("conv4/4(dims[0])", "conv4/4(96)"))
    d = archdsl.diff(zoo("convnext.arch"), respelled)
    assert not d["changed"] and all(not r["changed"] for r in d["sections"])
    assert main(["diff", str(zoo("convnext.arch")), str(respelled)]) == 0
    assert "no changes" in capsys.readouterr().out
    # a real change next to a respelling is still one
    changed = tmp_path / "changed.arch"
    changed.write_text(text.replace("stage dw7 ln", "stage dw5/1 ln"))
    d = archdsl.diff(zoo("convnext.arch"), changed)
    assert [r["name"] for r in d["sections"] if "tokens" in r["changed"]] == ["stage0", "stage1", "stage2", "stage3"]
    assert json.loads(json.dumps(d)) == d
