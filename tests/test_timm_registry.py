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


def test_pretrained_weights_unreachable_say_what_to_do(monkeypatch):
    # pretrained=True loads the zoo reference's published weights (tests/test_weights_api.py);
    # where its hub cannot be reached the error points at a local file instead
    import urllib.error

    import pytest
    import torchvision

    from archdsl.weights import WeightMappingError

    def offline(**kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.models, "get_model_builder", lambda name: offline)
    archdsl.register_timm()
    with pytest.raises(WeightMappingError, match=r"could not fetch torchvision resnet18's published weights .*no network.*; "
                                                 r"save its state dict to a file and pass that path"):
        timm.create_model("archdsl_resnet18", pretrained=True)
