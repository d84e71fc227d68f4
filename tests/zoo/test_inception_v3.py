"""Inception v3 with and without the auxiliary classifier (`aux:` side output) equals torchvision.

torchvision returns InceptionOutputs(logits, aux_logits) in training mode when aux_logits=True;
archdsl returns (logits, aux). Training-mode outputs are compared with dropout set to p=0 in
both models (deterministic; BatchNorm uses the same batch statistics in both); that check
(batch 2, training and eval forwards at 299x299) is marked slow, the eval-mode check at
299x299 runs by default.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from tests.conftest import randomize_batchnorm, zoo

FILE = zoo("inception_v3.arch")
VARIANTS = [("inception_v3", False), ("inception_v3_aux", True)]


def reference(aux: bool):
    return torchvision.models.inception_v3(aux_logits=aux, init_weights=False)


def loaded_pair(variant: str, aux: bool):
    torch.manual_seed(0)
    ref = reference(aux)
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, variant)
    archdsl.load_reference(ours, ref)
    return ours.double(), ref.double()


def rel(a, b) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.slow
def test_training_outputs_equal_reference_with_aux():
    ours, ref = loaded_pair("inception_v3_aux", True)
    for m in list(ours.modules()) + list(ref.modules()):
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    ours.train()
    ref.train()
    x = torch.randn(2, 3, 299, 299, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = ours(x), ref(x)
    assert isinstance(a, tuple) and len(a) == 2
    assert rel(a[0], b.logits) < 1e-6
    assert rel(a[1], b.aux_logits) < 1e-6
    assert rel(a[0], a[1]) > 1e-3
    ours.eval()
    ref.eval()
    with torch.no_grad():
        assert rel(ours(x), ref(x)) < 1e-6


def test_feature_info_ignores_side_outputs():
    # stage 2 (Mixed_6b..6e) ends with the auxiliary head: its feature is still the 768-wide
    # trunk; one level per resolution, as timm's inception_v3 lists them
    net = archdsl.build(FILE, "inception_v3_aux", features=True)
    assert net.feature_info.channels() == [64, 192, 288, 768, 2048]
    assert net.feature_info.module_name()[3] == "stages.2" and net.feature_info.reduction() == [2, 4, 8, 16, 32]
