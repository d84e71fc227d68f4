"""Inference passes (`archdsl.passes.inference`) and the deployment options of `archdsl.build`.

Each pass keeps the eval-mode function: float64 outputs equal to the model it started from.
"""

from __future__ import annotations

import inspect
import json
import traceback

import pytest
import torch

import archdsl
from archdsl.cli import main
from archdsl.backends.deploy import DEPLOY_PASSES, optimize_for_inference, remove_dropout
from tests.conftest import randomize_batchnorm, zoo


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _count(model, types) -> int:
    """Modules of the given classes; a name stands for a runtime class (generated code holds its own copy)."""
    names = {t for t in (types if isinstance(types, tuple) else (types,)) if isinstance(t, str)}
    classes = tuple(t for t in (types if isinstance(types, tuple) else (types,)) if not isinstance(t, str))
    return sum(isinstance(m, classes) or type(m).__name__ in names for m in model.modules())


def _same(a: torch.nn.Module, b: torch.nn.Module, batch: int = 2) -> None:
    shape = a.arch_info["input_shape"]
    x = torch.randn(batch, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        ya, yb = a(x), b(x)
    err = ((ya - yb).abs().max() / yb.abs().max()).item()
    assert err < 1e-12, f"relative error {err:.3g}"


def _model(file: str, variant: str | None, **kw) -> torch.nn.Module:
    torch.manual_seed(0)
    m = archdsl.build(zoo(file), variant, **kw)
    randomize_batchnorm(m)
    return m.double().eval()


def test_remove_dropout_keeps_eval_outputs():
    # efficientnet b0: drop-path on the residual blocks and dropout before the classifier
    m = _model("efficientnet.arch", "b0", input_shape=(3, 64, 64))
    n_drop = _count(m, (torch.nn.Dropout, "DropPath"))
    out = remove_dropout(m)
    assert out.removed_dropouts == n_drop > 0
    assert _count(out, (torch.nn.Dropout, "DropPath")) == 0 and _count(m, (torch.nn.Dropout, "DropPath")) == n_drop
    assert _params(out) == _params(m)
    _same(out, m)


def test_remove_dropout_in_a_chain_and_at_a_group_output():
    # a plain chain (fast path) whose last step is a dropout, and a head ending in dropout
    src = "arch t()\ninput 3x8x8\nstem conv3(4) dropout(0.5) relu dropout(0.1)\nhead gap fc(3) dropout(0.3)\n"
    m = archdsl.build(src).double().eval()
    out = remove_dropout(m)
    assert out.removed_dropouts == 3
    assert list(dict(out.stem.named_children())) == ["conv", "relu"]
    _same(out, m)


def test_every_pass_gives_ordinary_generated_code_with_source_maps():
    # a fold, a dropout and a reparameterized branch sum: the deploy network is generated
    # code like any other, each remaining layer's line still naming its .arch text
    src = ("arch t()\ninput 3x8x8\nblock rep(c):\n    add: [bn] [conv3(c) bn] [conv1(c) bn]\n"
           "stem conv3(4) bn relu dropout(0.1) rep(4) relu conv3(4)\nhead gap fc(3)\n")
    m = archdsl.build(src, input_shape=None)
    out = optimize_for_inference(m)
    assert (out.folded_batchnorms, out.removed_dropouts, out.reparameterized) == (1, 1, 1)
    assert list(dict(out.stem.named_children())) == ["conv1", "relu1", "rep1", "relu2", "conv2"]
    assert out.stem.conv1.bias is not None and list(dict(out.stem.rep1.named_children())) == ["conv1"]
    text = inspect.getsource(type(out))
    assert "nn.BatchNorm2d" not in text and "Dropout" not in text
    with pytest.raises(RuntimeError) as e:
        out(torch.randn(1, 5, 8, 8))  # wrong channel count: the first conv raises
    assert "x = self.stem.conv1(x)  # conv3(4) -> 4x8x8" in "".join(traceback.format_exception(e.value))


@pytest.mark.parametrize("file,variant,shape", [
    ("googlenet.arch", "googlenet_aux", (3, 64, 64)),  # side outputs (`aux:`)
    ("nasnet.arch", None, (3, 64, 64)),  # two-input cells
])
def test_passes_keep_side_output_and_two_input_groups(file, variant, shape):
    m = _model(file, variant, input_shape=shape)
    out = optimize_for_inference(m)
    assert out.folded_batchnorms + out.removed_dropouts > 0
    _same(out, m)


def test_optimize_for_inference_runs_every_named_pass():
    m = _model("resnet.arch", "resnet18", input_shape=(3, 64, 64))
    out = optimize_for_inference(m)
    assert out.inference_passes == DEPLOY_PASSES
    assert out.folded_batchnorms == 20 and out.reparameterized == 0 and out.removed_dropouts == 0
    with pytest.raises(ValueError):
        optimize_for_inference(m, ["no_such_pass"])
    only = optimize_for_inference(m, ["remove_dropout"])
    assert only.inference_passes == ["remove_dropout"] and not hasattr(only, "folded_batchnorms")


@pytest.mark.parametrize("file,variant,shape,expect", [
    ("resnet.arch", "resnet18", (3, 64, 64), {"folded_batchnorms": 20}),
    ("repvgg.arch", "a0", (3, 64, 64), {"reparameterized": 22}),
    ("efficientnet.arch", "b0", (3, 64, 64), {"folded_batchnorms": 49, "removed_dropouts": 10}),
])
def test_inference_build_equals_eval_mode(file, variant, shape, expect):
    torch.manual_seed(0)
    train_form = archdsl.build(zoo(file), variant, input_shape=shape)
    randomize_batchnorm(train_form)
    train_form = train_form.double()
    torch.manual_seed(0)
    deployed = archdsl.build(zoo(file), variant, input_shape=shape, inference=True)
    assert not deployed.training
    for k, v in expect.items():
        assert getattr(deployed, k) == v, k
    # the same weights: apply the passes to the randomized training form and compare
    folded = optimize_for_inference(train_form)
    assert _params(folded) <= _params(train_form)
    assert _params(folded) == _params(deployed)
    if file == "resnet.arch":  # every bn of a resnet follows a conv
        assert _count(folded, torch.nn.BatchNorm2d) == 0
    _same(folded, train_form.eval())


@pytest.mark.parametrize("file,variant,folded", [
    ("convnext.arch", "tiny", 3 + 3 + 9 + 3),  # image layout: gamma after the channels-first Mlp
    ("cait.arch", None, 26),  # token layout: each Mlp's gamma (the attention's stays: no Linear before it)
])
def test_fold_layer_scale_keeps_eval_outputs(file, variant, folded):
    m = _model(file, variant, input_shape=(3, 64, 64))
    for name, p in m.named_parameters():  # non-trivial scales (their init is 1e-6 / 1e-5)
        if name.rsplit(".", 1)[-1].startswith("gamma"):
            p.data.uniform_(0.5, 1.5)
    out = optimize_for_inference(m, ["fold_layer_scale"])
    assert out.folded_layer_scales == folded
    gammas = lambda model: sum(n.rsplit(".", 1)[-1].startswith("gamma") for n, _ in model.named_parameters())  # noqa: E731
    assert gammas(m) - gammas(out) == folded
    _same(out, m)


def test_fold_layer_scale_leaves_a_scale_whose_input_is_read_twice():
    src = "arch t(layer_scale=1e-5)\ninput 3x8x8\ndefault residual(scale=layer_scale)\nstem conv3(4)\nstage conv1(4) x1\nhead gap fc(3)\n"
    m = archdsl.build(src).double().eval()
    assert optimize_for_inference(m, ["fold_layer_scale"]).folded_layer_scales == 1
    # the layer scale reads a value the residual also reads: nothing to fold
    src = "arch t(layer_scale=1e-5)\ninput 3x8x8\ndefault residual(scale=layer_scale)\nstem conv3(4)\nstage relu x1\nhead gap fc(3)\n"
    m = archdsl.build(src).double().eval()
    assert optimize_for_inference(m, ["fold_layer_scale"]).folded_layer_scales == 0


def test_build_dtype_channels_last_and_compile_options():
    src = "arch t()\ninput 3x16x16\nstem conv3(8) bn relu\nhead gap fc(4)\n"
    m = archdsl.build(src, dtype="bfloat16", channels_last=True)
    w = m.stem.conv.weight
    assert w.dtype == torch.bfloat16 and w.is_contiguous(memory_format=torch.channels_last)
    c = archdsl.build(src, compile=True, mode="default")
    assert isinstance(c, torch._dynamo.eval_frame.OptimizedModule)
    with pytest.raises(ValueError):
        archdsl.build(src, dtype="int8")
    with pytest.raises(ValueError):
        archdsl.build(src, compile=True, mode="fastest")
    with pytest.raises(ValueError):
        archdsl.build(src, mode="max-autotune")  # mode without compile


def test_cli_inference_and_dtype(capsys):
    assert main(["compile", str(zoo("resnet.arch")), "--variant", "resnet18", "--input", "3x64x64", "--inference",
                 "--dtype", "bfloat16", "--channels-last", "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    d = s["deploy"]
    assert d["inference_passes"]["fold_batchnorm"] == 20 and d["dtype"] == "bfloat16" and d["channels_last"]
    assert d["inference_params"] < d["params"] == s["params"]
    assert main(["compile", str(zoo("resnet.arch")), "--mode", "max-autotune"]) == 1  # --mode needs --compile


@pytest.mark.slow
def test_cli_compile_runs_inductor(capsys, tmp_path):
    f = tmp_path / "t.arch"
    f.write_text("arch t()\ninput 3x16x16\nstem conv3(8) bn relu\nhead gap fc(4)\n")
    assert main(["compile", str(f), "--compile", "--inference", "--json"]) == 0
    c = json.loads(capsys.readouterr().out)["deploy"]["compile"]
    assert c["mode"] == "default" and c["output"] == [4]


def _channels_last_weights(model) -> list[bool]:
    return [p.is_contiguous(memory_format=torch.channels_last) for p in model.parameters() if p.dim() == 4]


def test_channels_last_pass_converts_conv_nets_and_keeps_outputs():
    m = _model("resnet.arch", "resnet18", input_shape=(3, 64, 64))
    out = optimize_for_inference(m)
    before = _channels_last_weights(optimize_for_inference(m, ["fold_batchnorm"]))
    assert out.channels_last_tensors == before.count(False) > 0 and all(_channels_last_weights(out))
    assert _channels_last_weights(m).count(False) == before.count(False)  # the input model keeps its layout
    _same(out, m)  # a contiguous input: the first conv's channels-last weight switches the layout
    without = optimize_for_inference(m, ["remove_dropout", "reparameterize", "fold_batchnorm"])
    assert not hasattr(without, "channels_last_tensors") and _channels_last_weights(without) == before


def test_channels_last_pass_leaves_mostly_linear_networks():
    # a patch-embedding conv, then linear layers on tokens (ViT-like): the rule says no
    src = "arch t()\ninput 3x16x16\nstem conv4/4(8) tokens ln fc(16) gelu fc(8) ln fc(16) gelu fc(8)\nhead gap fc(3)\n"
    m = archdsl.build(src).double().eval()
    out = optimize_for_inference(m)
    assert out.channels_last_tensors == 0 and not any(_channels_last_weights(out))
    _same(out, m)
