"""`archdsl scale`, `fit` and `sample` (archdsl/scaling.py, archdsl/cli_scaling.py)."""

from __future__ import annotations

import json

import pytest

import archdsl
from archdsl.cli import main
from archdsl.scaling import Space, apply_multiplier, parse_amount, parse_range
from archdsl.syntax import parse_text
from tests.conftest import zoo


def _run(capsys, argv):
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _compile_line(path, line):
    """The file with `line` added as a variant, compiled to that variant: the printed line must make the network."""
    text = path.read_text().rstrip("\n") + "\n" + line + "\n"
    name = line.split()[1]
    return archdsl.summary(parse_text(text, str(path)), name)


def test_scale_efficientnet_b0_to_twice_the_macs(capsys):
    code, out, _ = _run(capsys, ["scale", str(zoo("efficientnet.arch")), "--variant", "b0", "--macs", "2x", "--json"])
    assert code == 0
    r = json.loads(out)
    b0 = archdsl.summary(zoo("efficientnet.arch"), "b0")["macs"]
    best = r["best"]
    assert abs(best["macs"] / (2 * b0) - 1) < 0.05
    assert best["alpha"] == 1.2 and best["beta"] == 1.1 and best["gamma"] == 1.15 and 0 < best["phi"] < 1
    assert set(best["values"]) == {"width", "depth", "res"}  # found from the file, not named on the command line
    s = _compile_line(zoo("efficientnet.arch"), r["variant_line"])
    assert s["macs"] == best["macs"] and s["params"] == best["params"]
    assert r["variant_line"].startswith("variant b0_2x ")


def test_scale_with_explicit_roles_on_a_file_without_multipliers(capsys):
    # convnext has no width/depth multipliers: its lists scale (widths to multiples of 8, depths rounded up)
    code, out, _ = _run(capsys, ["scale", str(zoo("convnext.arch")), "--params", "2x", "--vary", "dims=beta,depths=alpha", "--json"])
    assert code == 0
    r = json.loads(out)
    base = archdsl.summary(zoo("convnext.arch"))["params"]
    assert abs(r["best"]["params"] / (2 * base) - 1) < 0.05
    assert all(d % 8 == 0 for d in r["best"]["values"]["dims"])
    assert _compile_line(zoo("convnext.arch"), r["variant_line"])["params"] == r["best"]["params"]


def test_scale_grid_keeps_points_that_double_the_macs(capsys):
    code, out, _ = _run(capsys, ["scale", str(zoo("efficientnet.arch")), "--variant", "b0", "--macs", "2x", "--grid",
                                 "--grid-step", "0.1", "--json"])
    assert code == 0
    grid = json.loads(out)["grid"]
    assert grid and all(abs(g["MACs x at phi=1"] / 2 - 1) <= 0.1 for g in grid)
    assert all(abs(g["alpha"] * g["beta"] ** 2 * g["gamma"] ** 2 - 2) < 0.01 for g in grid)


def test_fit_resnet50_widths_to_50m_params(capsys):
    code, out, _ = _run(capsys, ["fit", str(zoo("resnet.arch")), "--variant", "resnet50", "--params", "50M", "--vary", "dims", "--json"])
    assert code == 0
    r = json.loads(out)
    dims = r["best"]["values"]["dims"]
    assert all(d % 8 == 0 for d in dims) and dims != [64, 128, 256, 512]
    s = _compile_line(zoo("resnet.arch"), r["variant_line"])
    assert abs(s["params"] / 50e6 - 1) < 0.02 and s["params"] == r["best"]["params"]
    assert archdsl.summary(zoo("resnet.arch"), "resnet50", dims=dims)["params"] == s["params"]


def test_fit_skips_widths_the_groups_do_not_divide(capsys, tmp_path):
    # groups of 32 channels: a width that is a multiple of 8 but not of 32 does not check
    f = tmp_path / "g.arch"
    f.write_text("arch g(dims=[64,128])\ninput 3x32x32\nstem conv3(32)\nstage conv3(c, g=32) bn relu x[1,1] c=dims\nhead gap fc(10)\n")
    code, out, _ = _run(capsys, ["fit", str(f), "--params", "1.5x", "--vary", "dims", "--json"])
    assert code == 0
    r = json.loads(out)
    assert all(d % 32 == 0 for d in r["best"]["values"]["dims"])
    assert any(c["error"] for c in r["candidates"])  # tried, reported, not chosen


def test_sample_is_deterministic_checks_and_plots(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    argv = ["sample", str(zoo("convnext.arch")), "--n", "4", "--vary", "depths,dims", "--macs", "3G..6G", "--seed", "3", "--json"]
    code, out, _ = _run(capsys, argv + ["--plot", str(tmp_path / "p.svg"), "-o", str(tmp_path / "nets")])
    assert code == 0
    a = json.loads(out)["samples"]
    _, out2, _ = _run(capsys, argv)
    assert json.loads(out2)["samples"] == a  # same seed, same networks
    _, out3, _ = _run(capsys, argv[:-3] + ["--seed", "4", "--json"])
    assert json.loads(out3)["samples"] != a
    assert len(a) == 4 and len({json.dumps(s["values"]) for s in a}) == 4
    files = sorted((tmp_path / "nets").glob("*.arch"))
    assert len(files) == 4
    for s, f in zip(a, files):
        assert 3e9 <= s["macs"] <= 6e9
        summary = archdsl.summary(f)  # each written file checks; the sample is its first (default) variant
        assert (summary["params"], summary["macs"]) == (s["params"], s["macs"])
    svg = (tmp_path / "p.svg").read_text()
    assert svg.startswith("<?xml") and "MACs (G)" in svg


def test_budget_errors_are_located(capsys):
    code, _, err = _run(capsys, ["fit", str(zoo("resnet.arch")), "--params", "lots", "--vary", "dims"])
    assert code == 1 and err.startswith("--params:1:1: error: bad budget `lots`")
    code, _, err = _run(capsys, ["fit", str(zoo("resnet.arch")), "--params", "50M", "--vary", "dimz"])
    assert code == 1 and "has no parameter `dimz`" in err and "did you mean `dims`" in err
    code, _, err = _run(capsys, ["fit", str(zoo("resnet.arch")), "--params", "50M", "--vary", "block"])
    assert code == 1 and "only numbers and lists of numbers can be scaled" in err


def test_amounts_and_rounding():
    assert parse_amount("2x", "--macs") == (2.0, True)
    assert parse_amount("1.5G", "--macs") == (1.5e9, False)
    assert parse_amount("800M", "--macs") == (8e8, False)
    assert parse_range("400M..600M", "--macs") == (4e8, 6e8)
    assert apply_multiplier([64, 128], 1.4) == [88, 176]  # multiples of 8 stay so (make_div)
    assert apply_multiplier([3, 4, 6, 3], 1.5) == [5, 6, 9, 5]  # counts round half up
    assert apply_multiplier([1, 2, 2], 1.1, ceil=True) == [2, 3, 3]  # EfficientNet's ceil(n * depth)
    assert apply_multiplier(224, 1.15) == 258 and apply_multiplier(1.0, 1.1) == 1.1
    sp = Space(archdsl.parse(zoo("resnet.arch")), "resnet50")
    assert sp.variant_line("x", {"dims": [8, 16, 24, 32]}) == "variant x  depths=[3,4,6,3]  dims=[8,16,24,32]"


def test_sample_bench_measures_throughput(capsys, tmp_path):
    pytest.importorskip("matplotlib")
    f = tmp_path / "t.arch"
    f.write_text("arch t(dims=[8,16])\ninput 3x16x16\nstem conv3(8) bn relu\nstage conv3(c) bn relu x[1,1] c=dims\nhead gap fc(10)\n")
    png = tmp_path / "b.png"
    code, out, _ = _run(capsys, ["sample", str(f), "--n", "2", "--vary", "dims", "--params", "100..1M", "--bench", "--bench-batch", "2",
                                 "--plot", str(png), "--json"])
    assert code == 0
    samples = json.loads(out)["samples"]
    assert len(samples) == 2 and all(s["images_per_s"] > 0 for s in samples)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sample_reports_a_budget_it_cannot_fill(capsys):
    code, _, err = _run(capsys, ["sample", str(zoo("resnet.arch")), "--n", "2", "--vary", "dims", "--params", "1..2", "--seed", "0"])
    assert code == 1 and "found only 0 of 2 networks" in err
