"""`archdsl compile FILE --variant V --json` reports the reference's parameter count
for every variant of the classic CNN zoo files (resnext ... mobilenet_v1)."""

from __future__ import annotations

import json

import pytest
import timm
import torchvision

from archdsl.cli import main
from tests.conftest import meta_params, zoo

tv = torchvision.models


def _timm(name):
    return lambda: timm.create_model(name, pretrained=False)


CASES = [
    ("resnext.arch", "resnext50_32x4d", tv.resnext50_32x4d),
    ("resnext.arch", "resnext101_32x8d", tv.resnext101_32x8d),
    ("wide_resnet.arch", "wide_resnet50_2", tv.wide_resnet50_2),
    ("wide_resnet.arch", "wide_resnet101_2", tv.wide_resnet101_2),
    ("senet.arch", "seresnet50", _timm("seresnet50")),
    ("senet.arch", "seresnext50_32x4d", _timm("seresnext50_32x4d")),
    ("resnet_v2.arch", "resnetv2_50", _timm("resnetv2_50")),
    ("resnet_v2.arch", "resnetv2_101", _timm("resnetv2_101")),
    *[("vgg.arch", v, getattr(tv, v)) for v in ("vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn")],
    ("alexnet.arch", "alexnet", tv.alexnet),
    *[("densenet.arch", v, getattr(tv, v)) for v in ("densenet121", "densenet161", "densenet169", "densenet201")],
    ("squeezenet.arch", "v1_0", tv.squeezenet1_0),
    ("squeezenet.arch", "v1_1", tv.squeezenet1_1),
    ("mobilenet_v1.arch", "mobilenetv1_100", _timm("mobilenetv1_100")),
    ("lenet.arch", "lenet5", None),  # no library: the paper's 61,706
]


@pytest.mark.parametrize("file,variant,ref", CASES, ids=[v for _, v, _ in CASES])
def test_compile_json_reports_reference_params(capsys, file, variant, ref):
    assert main(["compile", str(zoo(file)), "--variant", variant, "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["variant"] == variant
    assert s["params"] == (meta_params(ref) if ref is not None else 61_706)
