"""Overrides reach every value a file names: header parameters, `let`s and `default` lines.

A variant nobody wrote (ConvNeXt-XXL, EfficientNet-B8) is a command line away, and it is
the reference's network: same parameters, and, for one that fits a test, same outputs.
"""

from __future__ import annotations

import pytest
import timm
import torch

import archdsl
from archdsl.cli import main
from archdsl.errors import ArchError
from archdsl.syntax import parse_set_arg
from tests.conftest import assert_same_outputs, meta_params, randomize_batchnorm, zoo

XXL = {"depths": [3, 4, 30, 3], "dims": [384, 768, 1536, 3072], "ln.eps": 1e-5}
B8 = {"width": 2.2, "depth": 3.6, "res": 672, "tf_bn": False}


def test_set_argument_names_a_layer_argument():
    name, value, span = parse_set_arg("ln.eps=1e-5")
    assert name == "ln.eps" and value.value == 1e-5
    assert (span.column, span.length) == (1, len("ln.eps"))


def _layernorm_eps(model) -> set[float]:
    return {m.eps for m in model.modules() if "LayerNorm" in type(m).__name__}


def test_layer_argument_override_acts_as_a_default_line():
    assert _layernorm_eps(archdsl.build(zoo("convnext.arch"), "tiny")) == {1e-6}
    assert _layernorm_eps(archdsl.build(zoo("convnext.arch"), "tiny", **{"ln.eps": 1e-5})) == {1e-5}


def test_convnext_xxlarge_is_a_command_line_away(capsys):
    expected = meta_params(lambda: timm.create_model("convnext_xxlarge"))
    assert meta_params(lambda: archdsl.build(zoo("convnext.arch"), **XXL)) == expected
    sets = ["depths=[3,4,30,3]", "dims=[384,768,1536,3072]", "ln.eps=1e-5"]
    assert main(["compile", str(zoo("convnext.arch")), "--variant", "tiny", "--json", *[a for s in sets for a in ("--set", s)]]) == 0
    assert f'"params": {expected}' in capsys.readouterr().out


def test_layer_override_outputs_equal_timm():
    """Float64 outputs with the override applied: the epsilon reaches every norm."""
    torch.manual_seed(0)
    ref = timm.create_model("convnext_atto", norm_eps=1e-5)
    ours = archdsl.build(zoo("convnext.arch"), depths=[2, 2, 6, 2], dims=[40, 80, 160, 320], **{"ln.eps": 1e-5})
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 64, 64))


def test_let_override_efficientnet_b8_params():
    """`tf_bn` is a let (derived from the width); B8 in timm keeps PyTorch's BatchNorm."""
    expected = meta_params(lambda: timm.create_model("efficientnet_b8"))
    assert meta_params(lambda: archdsl.build(zoo("efficientnet.arch"), **B8)) == expected
    bns = {(m.eps, m.momentum) for m in archdsl.build(zoo("efficientnet.arch"), "b0", tf_bn=True).modules()
           if isinstance(m, torch.nn.BatchNorm2d)}
    assert bns == {(1e-3, 0.01)}


@pytest.mark.slow
def test_let_override_efficientnet_b8_outputs():
    torch.manual_seed(0)
    ref = timm.create_model("efficientnet_b8")
    randomize_batchnorm(ref)
    ours = archdsl.build(zoo("efficientnet.arch"), **B8)
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 96, 96))


@pytest.mark.slow
def test_convnext_xxlarge_outputs():
    """timm's convnext_xxlarge (846M parameters) and ours from --set alone, float64, at 64x64
    (peak 14 GB resident, 165 s on the 2-core development machine: slow tier, by hand)."""
    torch.manual_seed(0)
    ref = timm.create_model("convnext_xxlarge")
    ours = archdsl.build(zoo("convnext.arch"), **XXL)
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 64, 64))


@pytest.mark.parametrize("sets, message", [
    (["tf_bn=3"], "`tf_bn` must be bool, got the int 3 in --set"),
    (["ln.epz=1e-5"], "`ln` has no argument `epz` in --set"),
    (["lnn.eps=1e-5"], "unknown layer `lnn` in --set"),
    (["ln.eps=true"], "`ln` argument `eps` must be float"),
    (["residual.sclae=1"], "`residual` has no option `sclae` in --set"),
    (["widht=2"], "unknown parameter `widht` in --set"),
])
def test_override_errors_are_located(sets, message, capsys):
    args = ["check", str(zoo("efficientnet.arch")), "--variant", "b0"]
    for s in sets:
        args += ["--set", s]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("--set:1:") and message in err, err
    assert "Traceback" not in err


def test_python_override_of_a_let_is_type_checked():
    with pytest.raises(ArchError, match="`tf_bn` must be bool"):
        archdsl.compile_graph(zoo("efficientnet.arch"), "b0", tf_bn="yes")
