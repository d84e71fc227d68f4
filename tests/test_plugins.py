"""A layer registered by a plugin works in every command: build, `compile -o`, check,
render, summary, diff and the inference passes; its `params` rule is checked against the
module it builds; a plugin's activation is accepted wherever an activation is."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import archdsl
from archdsl.cli import main

PLUGIN = '''
"""A test plugin: GRN (ConvNeXt-V2's global response norm) and a squared-ReLU activation."""
import torch
from torch import nn

from archdsl.ops import Arg, OpSpec, ShapeError, register
from archdsl.ops.activation import ACTIVATIONS
from archdsl.ops.code import call


class GlobalResponseNorm(nn.Module):
    """x + gamma * x * N + beta, N = ||x||_HW / mean_C ||x||_HW (channels first)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        g = x.norm(p=2, dim=(2, 3), keepdim=True)
        n = g / (g.mean(dim=1, keepdim=True) + self.eps)
        return x + self.gamma * (x * n) + self.beta


class SquaredReLU(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x) ** 2


def _shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError("`grn` needs an image C x H x W", input=True)
    return ins[0]


register(OpSpec(
    "grn", "norm", "Global response normalization (ConvNeXt V2).",
    args=(Arg("eps", "float", 1e-6, "epsilon"),), module_name="grn", example="grn",
    shape=_shape, params=lambda a, ins, out: PARAMS_RULE,
    module=lambda a, ins, out: call(GlobalResponseNorm, ins[0][0], eps=a["eps"], _defaults={"eps": 1e-6}),
))
register(OpSpec("relu2", "act", "Activation: squared ReLU.", module_name="act", example="relu2",
                module=lambda a, ins, out: call(SquaredReLU)))
'''

NET = """arch net(classes=10)
input 3x16x16
stem conv3(8) grn relu2
stage conv3(8) grn mlp2(act=relu2) x1
head gap fc(classes)
"""


def _plugin(tmp_path: Path, name: str, rule: str = "2 * ins[0][0]") -> str:
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLUGIN).replace("PARAMS_RULE", rule))
    return name


@pytest.fixture()
def plugin(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = _plugin(tmp_path, "grn_plugin")
    yield name
    from archdsl.ops.registry import REGISTRY

    for op in ("grn", "relu2"):
        REGISTRY.pop(op, None)
    sys.modules.pop(name, None)


def test_plugin_layer_in_every_command(plugin, tmp_path, capsys):
    net = tmp_path / "net.arch"
    net.write_text(NET)
    other = tmp_path / "other.arch"
    other.write_text(NET.replace("x1", "x2"))
    out = tmp_path / "net.py"
    assert main(["--plugin", plugin, "compile", str(net), "--json", "-o", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["params"] == archdsl.summary(net)["params"]
    text = out.read_text()
    assert f"from {plugin} import GlobalResponseNorm" in text and f"from {plugin} import SquaredReLU" in text
    assert "self.stem.grn = GlobalResponseNorm(" in text and "act=SquaredReLU()" in text
    assert main(["--plugin", plugin, "check", str(net)]) == 0
    assert main(["--plugin", plugin, "render", str(net), "-o", str(tmp_path / "net.dot")]) == 0
    assert "grn" in (tmp_path / "net.dot").read_text()
    assert main(["--plugin", plugin, "diff", str(net), str(other), "--json"]) == 0
    capsys.readouterr()
    model = archdsl.build(net).eval()
    assert type(model.stem.grn).__name__ == "GlobalResponseNorm" and type(model.stem.act).__name__ == "SquaredReLU"
    assert sum(p.numel() for p in model.parameters()) == summary["params"]
    # the written file runs: same state dict, same outputs
    namespace: dict = {}
    exec(compile(text, str(out), "exec"), namespace)  # our own generated file, in a test
    written = namespace[text.split("\nclass ")[-1].split("(")[0]]().eval()
    written.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(written(x), model(x))
    from archdsl.backends.deploy import optimize_for_inference

    with torch.no_grad():
        torch.testing.assert_close(optimize_for_inference(model)(x), model(x))


def test_params_rule_is_checked_against_the_module(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(tmp_path))
    name = _plugin(tmp_path, "bad_plugin", rule="ins[0][0]")  # says C, the module has 2C
    net = tmp_path / "net.arch"
    net.write_text(NET)
    try:
        assert main(["--plugin", name, "compile", str(net)]) == 1
        err = capsys.readouterr().err
        assert "its `params` rule says 8 parameters, the module it builds has 16" in err and "net.arch:3:15" in err
    finally:
        from archdsl.ops.registry import REGISTRY

        for op in ("grn", "relu2"):
            REGISTRY.pop(op, None)
        sys.modules.pop(name, None)


def test_unknown_plugin_is_a_user_error(capsys):
    assert main(["--plugin", "no_such_plugin_module", "check", "zoo/resnet.arch"]) == 1
    err = capsys.readouterr().err
    assert "cannot load plugin `no_such_plugin_module`" in err and "Traceback" not in err


def test_installed_plugin_loads_through_its_entry_point(tmp_path):
    """A package that declares the `archdsl.ops` entry point is loaded the first time a token
    is not found: `grn` works without --plugin."""
    _plugin(tmp_path, "ep_plugin")
    dist = tmp_path / "ep_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[archdsl.ops]\ngrn = ep_plugin\n")
    net = tmp_path / "net.arch"
    net.write_text(NET)
    code = f"import archdsl; print(archdsl.summary({str(net)!r})['params'])"
    env = {"PYTHONPATH": f"{tmp_path}:{Path(__file__).resolve().parents[1]}", "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip()) > 0


# every place an activation is named, with a network that reaches it (the op's input kind)
ACT_USES = {
    ("act", "kind"): "stem conv3(8) act(relu2)",
    ("mlp", "act"): "stem conv3(8) mlp4(act=relu2)",
    ("se", "act"): "stem conv3(8) se0.25(act=relu2)",
    ("se", "gate"): "stem conv3(8) se0.25(gate=relu2)",
    ("token_mlp", "act"): "stem patch_embed(16, 4) token_mlp0.5(act=relu2)",
}


def test_plugin_activation_is_accepted_wherever_an_activation_is(plugin):
    """Each argument of type `act` in the registry takes the plugin's activation, the built
    network runs it, and so does a `layer` body calling it; ACT_USES lists every such
    argument, so a new one is added here."""
    import importlib

    from archdsl.ops.registry import REGISTRY

    importlib.import_module(plugin)
    act_args = {(s.name, a.name) for s in REGISTRY.values() if s.user for a in s.args if a.type == "act"}
    assert act_args == set(ACT_USES)
    x = torch.randn(1, 3, 16, 16)
    for body in [*ACT_USES.values(), "layer sq(k=1.0):\n    k * relu2(x) + x\nstem conv3(8) sq"]:
        text = f"arch net()\ninput 3x16x16\n{body}\nhead gap fc(10)\n"
        model = archdsl.build(text).eval()
        assert any(type(m).__name__ == "SquaredReLU" for m in model.modules()), body
        assert "SquaredReLU" in archdsl.to_source(text), body
        with torch.no_grad():
            assert model(x).shape == (1, 10)
