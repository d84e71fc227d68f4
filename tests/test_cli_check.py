"""`archdsl check` checks every variant, the `init` line and parameter bounds (issue 20, bugs 6 and 7)."""

from __future__ import annotations

import pytest

from archdsl.cli import main
from tests.conftest import zoo

TWO = """arch net(width=16, classes=10)
input 3x32x32
stem conv3(width) bn relu
head gap fc(classes)
variant good width=16
variant bad  width=16 clases=5
variant worse width=-4
"""


def test_check_without_variant_checks_every_variant(tmp_path, capsys):
    f = tmp_path / "two.arch"
    f.write_text(TWO)
    assert main(["check", str(f)]) == 1
    out, err = capsys.readouterr()
    assert out == f"{f} (good): ok (5 ops, output 10)\n"
    assert f"{f}:6:23: error: unknown parameter `clases` in variant `bad`\n" in err
    assert "did you mean `classes`?" in err
    assert f"{f}:3:6: error: `out` must be positive, got -4 (variant worse)\n" in err
    assert "Traceback" not in err


def test_check_one_variant_checks_only_that_one(tmp_path, capsys):
    f = tmp_path / "two.arch"
    f.write_text(TWO)
    assert main(["check", str(f), "--variant", "good"]) == 0
    assert capsys.readouterr().out == f"{f}: ok (5 ops, output 10)\n"


def test_a_mistake_in_every_variant_is_reported_once(tmp_path, capsys):
    f = tmp_path / "all.arch"
    f.write_text(TWO.replace("stem conv3(width)", "stem conv3(widht)").replace("clases", "classes").replace("-4", "4"))
    assert main(["check", str(f)]) == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "(variant" not in err and "did you mean `width`?" in err


def test_check_lists_every_zoo_variant(capsys):
    assert main(["check", str(zoo("resnet.arch"))]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(" (")[1].split(")")[0] for line in out] == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]


def test_check_reports_an_unknown_init_scheme_at_its_line(tmp_path, capsys):
    f = tmp_path / "init.arch"
    f.write_text("arch t(classes=10)\ninput 3x32x32\ninit kaimng\nstem conv3(16) bn relu\nhead gap fc(classes)\n")
    assert main(["check", str(f)]) == 1
    assert capsys.readouterr().err.startswith(f"{f}:3:6: error: unknown init scheme `kaimng`")


def test_init_schemes_checked_without_torch_match_the_runtime_ones():
    import inspect

    from archdsl.ir.init_schemes import POSITIONAL, RUNTIME, SCHEMES
    from archdsl.runtime import init

    assert set(SCHEMES) == set(RUNTIME)
    for name, keys in SCHEMES.items():
        if RUNTIME[name] is None:  # PyTorch's own defaults: nothing to call, nothing to set
            assert keys == {}
            continue
        params = list(inspect.signature(getattr(init, RUNTIME[name])).parameters)
        assert set(keys) <= set(params), name
        assert list(POSITIONAL.get(name, ())) == params[1:1 + len(POSITIONAL.get(name, ()))], name


@pytest.mark.parametrize("rate", ["1.0", "1", "1.5", "-0.1"])
def test_drop_path_outside_0_1_is_a_located_error(rate, capsys):
    assert main(["check", str(zoo("convnext.arch")), "-v", "tiny", "--set", f"drop_path={rate}"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("--set:1:11: error: `drop` must be in [0, 1)")


def test_drop_path_just_below_1_trains_without_nan():
    import torch

    import archdsl

    model = archdsl.build("arch t(drop_path=0.99)\ninput 3x16x16\ndefault residual(drop=drop_path)\nblock b:\n    residual: conv3 bn relu\nstem conv3(8)\n"
                          "stage b x4\nhead gap fc(3)\n").train()
    torch.manual_seed(0)
    assert torch.isfinite(model(torch.randn(4, 3, 16, 16))).all()
