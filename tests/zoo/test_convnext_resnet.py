"""ConvNeXt and ResNet are the same networks as torchvision's (and timm's ConvNeXt-XL)."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision

import archdsl
from tests.conftest import assert_same_outputs, zoo

CONVNEXT = [
    ("tiny", lambda: torchvision.models.convnext_tiny()),
    ("small", lambda: torchvision.models.convnext_small()),
    ("base", lambda: torchvision.models.convnext_base()),
    ("large", lambda: torchvision.models.convnext_large()),
    ("xlarge", lambda: timm.create_model("convnext_xlarge", pretrained=False)),
]
RESNET = [(v, getattr(torchvision.models, v)) for v in ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")]


def test_issue_figures():
    assert archdsl.summary(zoo("convnext.arch"), "tiny")["params"] == 28_589_128
    assert archdsl.summary(zoo("resnet.arch"), "resnet50")["params"] == 25_557_032


@pytest.mark.parametrize(
    "file,variant,paper_gmacs",
    [("convnext.arch", "tiny", 4.5), ("resnet.arch", "resnet50", 4.1), ("resnet.arch", "resnet18", 1.8)],
)
def test_macs_match_paper(file, variant, paper_gmacs):
    macs = archdsl.summary(zoo(file), variant)["macs"]
    assert abs(macs / 1e9 - paper_gmacs) / paper_gmacs < 0.02


def test_timm_convnext_weights_load_into_ours():
    # timm names and orders ConvNeXt differently from torchvision (stages.N.downsample,
    # conv_dw, mlp.fc1, head.norm); the same model must accept both.
    ref = timm.create_model("convnext_tiny", pretrained=False)
    ours = archdsl.build(zoo("convnext.arch"), "tiny")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 64, 64))


def test_module_names_mirror_structure():
    names = dict(archdsl.build(zoo("convnext.arch"), "tiny").named_modules())
    assert "stages.2.blocks.5.dwconv" in names
    assert "stages.1.down.conv" in names
    assert "stages.3.blocks.2.mlp.fc1" in names
    assert "head.fc" in names
    r50 = dict(archdsl.build(zoo("resnet.arch"), "resnet50").named_modules())
    assert {"stem.conv", "stages.0.blocks.0.conv3", "stages.1.blocks.0.shortcut.conv", "head.fc"} <= set(r50)


def test_initialisation_follows_reference():
    torch.manual_seed(0)
    cn = archdsl.build(zoo("convnext.arch"), "tiny")
    w = cn.stages[2].blocks[0].mlp.fc1.weight
    assert 0.019 < w.std().item() < 0.021  # trunc_normal_(std=0.02), as torchvision
    assert torch.all(cn.stages[2].blocks[0].mlp.fc1.bias == 0)
    assert torch.allclose(cn.stages[0].blocks[0].gamma, torch.full((96,), 1e-6))
    r = archdsl.build(zoo("resnet.arch"), "resnet50")
    conv = r.stages[0].blocks[0].conv2  # kaiming normal, fan_out = 64 * 3 * 3
    expected = (2.0 / (64 * 9)) ** 0.5
    assert abs(conv.weight.std().item() - expected) / expected < 0.05


def test_drop_path_rises_linearly():
    m = archdsl.build(zoo("convnext.arch"), "tiny", drop_path=0.3)
    rates = [mod.p for name, mod in m.named_modules() if name.endswith("drop_path")]
    assert len(rates) == 18  # one per block, the first at rate 0 (the identity)
    assert rates[-1] == pytest.approx(0.3)
    assert rates == pytest.approx([0.3 * k / 17 for k in range(18)])


@pytest.mark.parametrize("file,variant", [("convnext.arch", "tiny"), ("resnet.arch", "resnet18")])
def test_torch_compile_fullgraph(file, variant):
    torch._dynamo.reset()
    model = archdsl.build(zoo(file), variant).eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
