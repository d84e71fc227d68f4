"""Reference weights in one call: `build(..., weights=...)` and timm's `pretrained=True`.

The hubs cannot be reached here, so the library calls that download (torchvision
`weights="DEFAULT"`, timm `pretrained=True`) are checked by intercepting them, and the
weights themselves come from state dicts saved to local files."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

import archdsl
from archdsl.weights import WeightMappingError
from tests.conftest import assert_same_outputs, randomize_batchnorm, zoo
from tests.zoo.perturb import randomize_parameters


@pytest.fixture(scope="module")
def resnet18():
    torch.manual_seed(0)
    ref = torchvision.models.resnet18().eval()
    randomize_parameters(ref)
    randomize_batchnorm(ref)
    return ref


@pytest.mark.parametrize("suffix", [".pth", ".safetensors"])
def test_weights_path_of_the_reference_state_dict(tmp_path, resnet18, suffix):
    path = tmp_path / f"resnet18{suffix}"
    (torch.save if suffix == ".pth" else save_file)(resnet18.state_dict(), str(path))
    model = archdsl.build(zoo("resnet.arch"), "resnet18", weights=path)
    assert_same_outputs(model, resnet18, (3, 64, 64))


def test_weights_by_zoo_name(tmp_path, resnet18):
    torch.save(resnet18.state_dict(), tmp_path / "r18.pth")
    model = archdsl.build("resnet18", weights=tmp_path / "r18.pth")  # the zoo model's name, not a path
    assert_same_outputs(model, resnet18, (3, 64, 64))


def test_weights_path_of_our_own_checkpoint(tmp_path, resnet18):
    trained = archdsl.build(zoo("resnet.arch"), "resnet18", weights=resnet18.state_dict())
    torch.save({"state_dict": trained.state_dict(), "epoch": 3}, tmp_path / "ckpt.pth")  # a training checkpoint
    again = archdsl.build(zoo("resnet.arch"), "resnet18", weights=str(tmp_path / "ckpt.pth"))
    assert all(torch.equal(a, b) for a, b in zip(trained.state_dict().values(), again.state_dict().values()))


def test_weights_path_of_another_model_is_refused(tmp_path):
    torch.save(torchvision.models.resnet34().state_dict(), tmp_path / "r34.pth")
    with pytest.raises(WeightMappingError, match=r"the state dict is not torchvision resnet18's: .*unexpected layer1\.2\."):
        archdsl.build(zoo("resnet.arch"), "resnet18", weights=tmp_path / "r34.pth")
    with pytest.raises(WeightMappingError, match="no such file"):
        archdsl.build(zoo("resnet.arch"), "resnet18", weights=tmp_path / "missing.pth")


def test_weights_for_features(tmp_path, resnet18):
    feats = archdsl.build(zoo("resnet.arch"), "resnet18", features=True, weights=resnet18.state_dict())
    assert torch.equal(feats.stages[2].blocks[0].conv1.weight, resnet18.layer3[0].conv1.weight)


def test_hub_names_and_the_library_call(monkeypatch, resnet18):
    calls = []

    def builder(**kwargs):
        calls.append(kwargs)
        return resnet18

    monkeypatch.setattr(torchvision.models, "get_model_builder", lambda name: builder)
    model = archdsl.build(zoo("resnet.arch"), "resnet18", weights="torchvision")
    assert calls == [{"weights": "DEFAULT"}]  # torchvision's published weights, through its hub
    assert_same_outputs(model, resnet18, (3, 64, 64))
    with pytest.raises(WeightMappingError, match=r"this variant's reference is torchvision resnet18 .* use weights='torchvision'"):
        archdsl.build(zoo("resnet.arch"), "resnet18", weights="timm")
    with pytest.raises(WeightMappingError, match="has no timm reference in the zoo status table"):
        archdsl.build(zoo("lenet.arch"), weights="timm")


def test_timm_hub_call(monkeypatch):
    made = []
    create = timm.create_model

    def fake(name, pretrained=False, **kwargs):
        made.append((name, pretrained))
        torch.manual_seed(0)
        return create(name, pretrained=False, **kwargs)

    monkeypatch.setattr(timm, "create_model", fake)
    archdsl.build(zoo("mobilenet_v1.arch"), weights="timm")
    assert made == [("mobilenetv1_100", True)]


def test_timm_create_model_pretrained_from_a_file(tmp_path, resnet18):
    archdsl.register_timm()
    path = tmp_path / "resnet18.pth"
    torch.save(resnet18.state_dict(), path)
    model = timm.create_model("archdsl_resnet18", pretrained=True, pretrained_cfg_overlay=dict(file=str(path)))
    assert_same_outputs(model, resnet18, (3, 64, 64))
    # a head of one's own: the classifier stays fresh, the rest loads (and is verified)
    small = timm.create_model("archdsl_resnet18", pretrained=True, num_classes=10,
                              pretrained_cfg_overlay=dict(state_dict=resnet18.state_dict()))
    assert small.head.fc.out_features == 10
    assert torch.equal(small.stages[3].blocks[1].conv2.weight, resnet18.layer4[1].conv2.weight)


def test_timm_pretrained_from_the_zoo_reference(monkeypatch, resnet18):
    archdsl.register_timm()
    monkeypatch.setattr(torchvision.models, "get_model_builder", lambda name: (lambda **kw: resnet18))
    model = timm.create_model("archdsl_resnet18", pretrained=True)
    assert_same_outputs(model, resnet18, (3, 64, 64))
