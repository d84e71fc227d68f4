"""`archdsl ops [TOKEN]` and `archdsl --version` (issue 20, bug 8): hints name commands that exist."""

from __future__ import annotations

import re

import pytest

import archdsl
from archdsl import ops
from archdsl.cli import main, make_parser
from archdsl.ops_listing import form
from tests.conftest import ROOT


def test_ops_lists_every_layer_with_its_arguments(capsys):
    assert main(["ops"]) == 0
    out = capsys.readouterr().out
    for spec in ops.user_ops():
        line = next((x for x in out.splitlines() if x.strip().startswith(form(spec) + " ") or x.strip() == form(spec)), None)
        assert line is not None, spec.name
        for a in spec.args:
            assert f"{a.name}:{a.type}" in line, (spec.name, a.name)
    assert "conv{kernel}[/stride]" in out and "g:int=1" in out and "residual:" in out


@pytest.mark.parametrize("token", ["conv", "dw7", "conv1x7", "se0.25", "ln"])
def test_ops_token_describes_one_layer(token, capsys):
    assert main(["ops", token]) == 0
    out = capsys.readouterr().out
    spec = ops.lookup(token)[0]
    assert out.startswith(form(spec)) and spec.doc in out
    for a in spec.args:
        assert re.search(rf"^  {a.name}\b", out, re.MULTILINE), a.name


def test_ops_unknown_token_is_a_located_error(capsys):
    assert main(["ops", "linear"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("linear:1:1: error: unknown layer `linear`") and "`fc`" in err


def test_every_command_a_hint_names_exists():
    commands = set(next(a for a in make_parser()._actions if a.dest == "command").choices)
    named = set()
    for path in (ROOT / "archdsl").rglob("*.py"):
        named |= set(re.findall(r"`archdsl ([a-z]+)", path.read_text()))
    assert named and named <= commands, named - commands


def test_version(capsys):
    assert main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"archdsl {archdsl.__version__} (python ") and "torch " in out
