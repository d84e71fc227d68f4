"""`fold_batchnorm`: conv + BatchNorm pairs merged for inference, outputs unchanged (float64)."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision

import archdsl
from archdsl.backends.deploy import fold_batchnorm
from tests.conftest import assert_same_outputs, randomize_batchnorm, zoo


def _bns(model) -> int:
    return sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize(
    "file,variant,ref",
    [
        ("resnet.arch", "resnet50", torchvision.models.resnet50),
        ("mobilenet_v1.arch", "mobilenetv1_100", lambda: timm.create_model("mobilenetv1_100", pretrained=False)),
    ],
)
def test_folded_outputs_equal_reference(file, variant, ref):
    torch.manual_seed(0)
    reference = ref()
    randomize_batchnorm(reference)
    ours = archdsl.build(zoo(file), variant)
    archdsl.load_reference(ours, reference)
    ours = ours.double()  # fold in float64, so the comparison measures the fold, not float32 rounding
    n_bn = _bns(ours)
    folded = fold_batchnorm(ours)
    assert folded.folded_batchnorms == n_bn > 0  # every bn in these nets follows a conv
    assert _bns(folded) == 0 and _bns(ours) == n_bn  # the input model is untouched
    bn_params = sum(2 * m.num_features for m in ours.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert _params(folded) == _params(ours) - bn_params // 2  # gamma/beta go, one bias per channel stays
    assert_same_outputs(folded, reference.double(), (3, 224, 224))


def test_bn_before_conv_is_not_folded():
    # DenseNet's pre-activation bn (bn relu conv) cannot fold into a preceding conv; only
    # conv -> bn pairs fold, and the result still equals the unfolded model.
    m = archdsl.build("arch t()\ninput 3x16x16\ndefault conv(bias=false)\nstem conv3(8) bn relu bn relu conv1(4) bn\nhead gap\n")
    randomize_batchnorm(m)
    m = m.double()
    folded = fold_batchnorm(m)
    assert folded.folded_batchnorms == 2 and _bns(folded) == 1
    x = torch.randn(2, 3, 16, 16, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), m.eval()(x), rtol=1e-12, atol=1e-12)


def test_bn_with_two_readers_is_kept():
    # the conv output also feeds the residual sum: folding would change that reader
    m = archdsl.build("arch t()\ninput 8x8x8\nblock b:\n    conv3(8)\n    add: [bn] []\nstem b\nhead gap\n")
    folded = fold_batchnorm(m)
    assert folded.folded_batchnorms == 0 and _bns(folded) == 1
