"""Zoo variants registered with timm build through timm's own API."""

from __future__ import annotations

import timm
import torch

import archdsl


def test_register_and_create_with_timm_api():
    names = archdsl.register_timm()
    assert "archdsl_convnext_tiny" in names and "archdsl_resnet50" in names
    assert "archdsl_convnext_tiny" in timm.list_models("archdsl_*")
    m = timm.create_model("archdsl_resnet18", pretrained=False, num_classes=10)
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 10)
    assert sum(p.numel() for p in m.parameters()) == sum(
        p.numel() for p in archdsl.build("zoo/resnet.arch", "resnet18", classes=10).parameters())


def test_timm_kwargs_map_to_arch_parameters():
    archdsl.register_timm()
    m = timm.create_model("archdsl_convnext_tiny", drop_path_rate=0.2, in_chans=1, num_classes=5)
    assert m.stem.conv.in_channels == 1
    rates = [mod.p for name, mod in m.named_modules() if name.endswith("drop_path")]
    assert max(rates) == 0.2
    m.reset_classifier(3)  # timm scripts call this
    assert m.eval()(torch.randn(1, 1, 64, 64)).shape == (1, 3)

