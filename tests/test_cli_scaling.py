"""`archdsl scale | fit | sample` (archdsl/cli_scaling.py): the command-line mistakes that are
usage errors (`archdsl: error: ...`, no source line, so not in tests/errors) and the ones that
need a missing library. The located ones are tests/errors/{scale,fit,sample}_*."""

from __future__ import annotations

import sys

import pytest

from archdsl.cli import main
from tests.conftest import ROOT

FILE = str(ROOT / "tests" / "errors" / "sample_bad_range.arch")  # a two-stage net with `dims`


@pytest.mark.parametrize("args,message", [
    (["fit", FILE, "--vary", "dims"], "give a budget: --macs or --params"),
    (["scale", FILE, "--macs", "2x", "--params", "2x"], "give one budget: --macs or --params"),
    (["fit", FILE, "--params", "2x", "--vary", " , "], "--vary needs parameter names"),
    (["fit", FILE, "--params", "2x", "--vary", "dims", "--divisor", "0"], "--divisor must be at least 1"),
    (["sample", FILE, "--macs", "1M..100M", "--vary", "dims", "--n", "0"], "--n must be at least 1 and --spread above 1"),
    (["sample", FILE, "--macs", "1M..100M", "--vary", "dims", "--spread", "1"], "--n must be at least 1 and --spread above 1"),
])
def test_usage_errors(args, message, capsys):
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"archdsl: error: {message}\n") and "Traceback" not in err


def test_plot_without_matplotlib(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` now fails
    out = tmp_path / "plot.svg"
    assert main(["sample", FILE, "--macs", "1M..100M", "--vary", "dims", "--n", "2", "--plot", str(out)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"--plot:1:1: error: plotting needs matplotlib") and "pip install 'archdsl[plot]'" in err
    assert not out.exists()
