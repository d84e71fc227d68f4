"""The `archdsl` command: compile / check / zoo, overrides, JSON contract, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from archdsl.cli import main
from tests.conftest import ROOT, zoo

JSON_KEYS = {"name", "variant", "params", "macs", "input_shape", "output_shape", "nodes"}


def compile_json(capsys, *args) -> dict:
    assert main(["compile", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_compile_prints_convnext_tiny_summary(capsys):
    assert main(["compile", str(zoo("convnext.arch"))]) == 0
    out = capsys.readouterr().out
    assert out.startswith("convnext (tiny)")
    assert "28,589,128" in out and "stage2" in out


def test_json_contract(capsys):
    s = compile_json(capsys, str(zoo("resnet.arch")), "--variant", "resnet50")
    assert JSON_KEYS <= set(s)
    assert s["params"] == 25_557_032
    assert s["input_shape"] == [1, 3, 224, 224] and s["output_shape"] == [1, 1000]
    assert isinstance(s["macs"], int) and isinstance(s["nodes"], int)


def test_json_equals_python_summary(capsys):
    import archdsl

    s = compile_json(capsys, str(zoo("convnext.arch")), "--variant", "small")
    assert s == json.loads(json.dumps(archdsl.summary(zoo("convnext.arch"), "small")))


def test_numeric_variant_name(capsys, tmp_path):
    """`variant 12` is chosen with `-v 12` (and in Python by "12" or 12); `-v 13` is a located error."""
    import archdsl

    path = tmp_path / "net.arch"
    path.write_text("arch net(depth=1)\ninput 3x16x16\nstem conv3(8)\nstage conv3 x(depth)\nhead gap fc(10)\n"
                    "variant 12  depth=12\nvariant 24  depth=24\n")
    s12 = compile_json(capsys, str(path), "-v", "12")
    s24 = compile_json(capsys, str(path), "--variant", "24")
    assert s12["variant"] == "12" and s24["variant"] == "24"
    assert [r["blocks"] for r in s12["stages"] if r["name"].startswith("stage")] == [12]
    assert s12["params"] < s24["params"]
    assert archdsl.summary(path, 12)["params"] == archdsl.summary(path, "12")["params"] == s12["params"]
    assert main(["compile", str(path), "-v", "13"]) == 1
    err = capsys.readouterr().err
    assert "unknown variant `13`" in err and "variants: 12, 24" in err


def test_set_depths_changes_model(capsys):
    base = compile_json(capsys, str(zoo("convnext.arch")))
    small = compile_json(capsys, str(zoo("convnext.arch")), "--set", "depths=[2,2,6,2]")
    assert small["parameters"]["depths"] == [2, 2, 6, 2]
    assert [r["blocks"] for r in small["stages"] if r["name"].startswith("stage")] == [2, 2, 6, 2]
    assert small["params"] < base["params"]


def test_set_classes_and_input(capsys):
    s = compile_json(capsys, str(zoo("convnext.arch")), "--set", "classes=10", "--input", "3x160x160")
    assert s["output_shape"] == [1, 10]
    assert s["input_shape"] == [1, 3, 160, 160]
    assert s["stages"][-2]["output_shape"] == [1, 768, 5, 5]


def test_set_block_parameter(capsys):
    s = compile_json(capsys, str(zoo("resnet.arch")), "--set", "block=basic", "--set", "depths=[2,2,2,2]")
    assert s["params"] == 11_689_512  # = resnet18


def test_python_overrides_match_cli(capsys):
    import archdsl

    s = compile_json(capsys, str(zoo("resnet.arch")), "--variant", "resnet50", "--set", "classes=10")
    assert archdsl.summary(zoo("resnet.arch"), "resnet50", classes=10)["params"] == s["params"]


def test_bad_python_override_is_located_error():
    import archdsl

    with pytest.raises(archdsl.ArchError) as e:
        archdsl.build(zoo("convnext.arch"), "tiny", depths="deep")
    assert "`depths` must be list[int]" in str(e.value)
    assert "convnext.arch:" in str(e.value)


def test_check_is_quiet_and_fast(capsys):
    assert main(["check", str(zoo("resnet.arch")), "--variant", "resnet152"]) == 0
    assert "ok" in capsys.readouterr().out


def test_zoo_lists_every_variant(capsys):
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    for v in ("tiny", "small", "base", "large", "xlarge", "resnet18", "resnet152"):
        assert v in out


def test_bad_usage_exits_1_without_traceback(capsys):
    assert main(["compile"]) == 1
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


def test_console_script_runs_as_subprocess():
    r = subprocess.run([sys.executable, "-m", "archdsl", "compile", "zoo/nope.arch"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1
    assert r.stderr.startswith("zoo/nope.arch:1:1: error: no such file")


def test_internal_error_exits_2(monkeypatch, capsys):
    import archdsl.cli as cli

    def boom(args):
        raise RuntimeError("bug")

    monkeypatch.setitem(cli.COMMANDS, "check", boom)
    assert main(["check", "x.arch"]) == 2
    err = capsys.readouterr().err
    assert "internal error" in err and "Traceback" not in err


def test_mode_needs_compile(capsys):
    assert main(["compile", str(ROOT / "zoo" / "resnet.arch"), "--mode", "max-autotune"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("archdsl: error: --mode needs --compile") and "Traceback" not in err


def test_language_server_without_pygls(monkeypatch, capsys):
    import sys as _sys

    monkeypatch.setitem(_sys.modules, "pygls", None)  # `import pygls` now fails
    assert main(["lsp"]) == 1
    err = capsys.readouterr().err
    assert "error: the language server needs pygls" in err and "pip install 'archdsl[lsp]'" in err
