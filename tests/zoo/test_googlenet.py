"""GoogLeNet with and without auxiliary classifiers (`aux:` side outputs) equals torchvision.

torchvision returns GoogLeNetOutputs(logits, aux_logits2, aux_logits1) in training mode when
aux_logits=True and plain logits otherwise; archdsl returns (logits, aux1, aux2), side outputs
in data-flow order. Training-mode outputs are compared with every dropout set to p=0 (both
models), so they are deterministic; BatchNorm then uses batch statistics, the same in both.
"""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl
from tests.conftest import randomize_batchnorm, zoo

FILE = zoo("googlenet.arch")
VARIANTS = [("googlenet", False), ("googlenet_aux", True)]


def reference(aux: bool):
    return torchvision.models.googlenet(aux_logits=aux, init_weights=False)


def loaded_pair(variant: str, aux: bool):
    torch.manual_seed(0)
    ref = reference(aux)
    randomize_batchnorm(ref)
    ours = archdsl.build(FILE, variant)
    archdsl.load_reference(ours, ref)
    return ours.double(), ref.double()


def no_dropout(*models):
    for model in models:
        for m in model.modules():
            if isinstance(m, torch.nn.Dropout):
                m.p = 0.0


def rel(a, b) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("variant,aux", VARIANTS, ids=[v for v, _ in VARIANTS])
def test_training_outputs_equal_reference(variant, aux):
    ours, ref = loaded_pair(variant, aux)
    no_dropout(ours, ref)
    ours.train()
    ref.train()
    x = torch.randn(2, 3, 224, 224, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        a, b = ours(x), ref(x)
    if not aux:
        assert isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
        assert rel(a, b) < 1e-6
        return
    assert isinstance(a, tuple) and len(a) == 3
    pairs = [(a[0], b.logits), (a[1], b.aux_logits1), (a[2], b.aux_logits2)]
    for mine, theirs in pairs:
        assert mine.shape == theirs.shape == (2, 1000)
        assert rel(mine, theirs) < 1e-6
    # the two side outputs differ from each other and from the logits: nothing was mixed up
    assert rel(a[1], a[2]) > 1e-3 and rel(a[0], a[1]) > 1e-3


def test_side_branches_do_not_run_in_eval_mode():
    ours = archdsl.build(FILE, "googlenet_aux")
    calls = []
    aux_fcs = [m for name, m in ours.named_modules() if isinstance(m, torch.nn.Linear) and not name.startswith("head")]
    assert len(aux_fcs) == 4  # two side heads, two fully connected layers each
    for m in aux_fcs:
        m.register_forward_hook(lambda *_: calls.append(1))
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        out = ours.eval()(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1000) and not calls
    with torch.no_grad():
        out = ours.train()(x)
    assert isinstance(out, tuple) and len(out) == 3 and len(calls) == 4


def test_compile_fullgraph_with_side_outputs():
    torch.manual_seed(0)
    ours = archdsl.build(FILE, "googlenet_aux")
    no_dropout(ours)
    compiled = torch.compile(ours, fullgraph=True, backend="eager")
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        ours.train()
        eager, comp = ours(x), compiled(x)
        assert isinstance(comp, tuple) and len(comp) == 3
        for a, b in zip(eager, comp):
            assert torch.allclose(a, b, rtol=1e-5, atol=1e-6)
        ours.eval()
        eager, comp = ours(x), compiled(x)
        assert isinstance(comp, torch.Tensor)
        assert torch.allclose(eager, comp, rtol=1e-5, atol=1e-6)


def test_features_in_training_mode_are_tensors():
    net = archdsl.build(FILE, "googlenet_aux", features=True).train()
    with torch.no_grad():
        feats = net(torch.randn(2, 3, 96, 96))
    assert [f.shape[1] for f in feats] == net.feature_info.channels() == [64, 192, 480, 832, 1024]
