"""RepVGG: the training form equals timm's repvgg_*; `reparameterize` gives the deploy form
(one 3x3 conv per block) with the same outputs and fewer parameters."""

from __future__ import annotations

import pytest
import timm
import torch
from timm.utils.model import reparameterize_model

import archdsl
from archdsl.backends.deploy import reparameterize
from tests.conftest import assert_same_outputs, randomize_batchnorm, zoo

VARIANTS = ["a0", "a1", "a2", "b0", "b1"]


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_deploy_form_equals_training_form():
    torch.manual_seed(0)
    ref = timm.create_model("repvgg_a0", pretrained=False)
    randomize_batchnorm(ref)
    train = archdsl.build(zoo("repvgg.arch"), "a0")
    archdsl.load_reference(train, ref)
    train = train.double()  # merge in float64, so the comparison measures the merge
    deploy = reparameterize(train)
    # the stem and each of the 21 stage blocks became one 3x3 conv with a bias, then relu
    assert deploy.reparameterized == 22
    blocks = [deploy.stem.repvgg1] + [b for s in deploy.stages for b in s.blocks]
    for b in blocks:
        convs = [m for m in b.modules() if isinstance(m, torch.nn.Conv2d)]
        assert len(convs) == 1 and convs[0].kernel_size == (3, 3) and convs[0].bias is not None
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in deploy.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in train.modules())  # the input is untouched
    # fewer parameters: exactly timm's own deploy form
    timm_deploy = reparameterize_model(ref)
    assert _params(deploy) == _params(timm_deploy) < _params(train)
    assert_same_outputs(deploy, train, (3, 224, 224), rtol=1e-9)
    assert_same_outputs(deploy, timm_deploy.double(), (3, 224, 224))


def test_unmergeable_sums_are_kept():
    # a nonlinearity inside a branch, or branches with different strides, cannot be merged
    m = archdsl.build("arch t()\ninput 8x8x8\nblock b:\n    add: [conv3 bn relu] [conv1 bn]\n"
                      "block c:\n    add: [conv3/2 bn] [conv1 bn maxpool2/2]\nstem b c\nhead gap\n")
    d = reparameterize(m)
    assert d.reparameterized == 0 and _params(d) == _params(m)


def test_merge_with_plain_identity_and_groups():
    # `add: [] [conv3(g=2) bn] [conv1(g=2)]`: an identity without BatchNorm, grouped kernels, a conv bias
    m = archdsl.build("arch t()\ninput 8x8x8\nblock b:\n    add: [] [conv3(8, g=2) bn] [conv1(8, g=2)]\nstem b\nhead gap\n")
    randomize_batchnorm(m)
    m = m.double()
    d = reparameterize(m)
    assert d.reparameterized == 1
    x = torch.randn(2, 8, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(d(x), m.eval()(x), rtol=1e-12, atol=1e-12)


def test_only_archdsl_models():
    with pytest.raises(TypeError, match="archdsl.build"):
        reparameterize(torch.nn.Conv2d(3, 3, 3))
