"""RepLKNet-31B (no library has it): parameters and MACs against the paper, stage shapes, and
the deploy form (31x31 + 5x5 merged by `reparameterize`) equal to the training form."""

from __future__ import annotations

import pytest
import torch

import archdsl
from archdsl.backends.deploy import reparameterize
from tests.conftest import randomize_batchnorm, zoo

PAPER_PARAMS, PAPER_GFLOPS = 79e6, 15.3  # RepLKNet-31B at 224x224


def _params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_params_and_macs_match_the_paper():
    s = archdsl.summary(zoo("replknet.arch"), "b31")
    assert abs(s["params"] - PAPER_PARAMS) / PAPER_PARAMS < 0.015
    assert abs(s["macs"] / 1e9 - PAPER_GFLOPS) / PAPER_GFLOPS < 0.05
    with torch.device("meta"):
        m = archdsl.build(zoo("replknet.arch"), "b31")
    assert _params(m) == s["params"]


def test_stage_shapes():
    g = archdsl.compile_graph(zoo("replknet.arch"), "b31")
    outs = []
    for i in range(4):
        last = [n for n in g if n.scope[:2] == ("stages", i)][-1]
        outs.append(last.shape)
    assert outs == [(128, 56, 56), (256, 28, 28), (512, 14, 14), (1024, 7, 7)]
    kernels = sorted({n.attrs["kernel"] for n in g if n.op == "dw" and n.attrs["kernel"] > 5}, reverse=True)
    assert kernels == [31, 29, 27, 13]


def test_deploy_form_equals_training_form():
    # a 64x64 input keeps this fast (float64, 80M parameters, twice); the kernels still
    # overhang every feature map, so padding and centring are exercised
    _check_deploy(64)


@pytest.mark.slow
def test_deploy_form_equals_training_form_at_224():
    _check_deploy(224)


def _check_deploy(res: int):
    torch.manual_seed(0)
    train = archdsl.build(zoo("replknet.arch"), "b31", input_shape=(3, res, res))
    randomize_batchnorm(train)
    train = train.double().eval()
    deploy = reparameterize(train)
    assert deploy.reparameterized == 24  # one merge per RepLK block
    large = [m for m in deploy.modules() if isinstance(m, torch.nn.Conv2d) and m.kernel_size[0] > 5]
    assert len(large) == 24 and all(m.bias is not None for m in large)
    assert not any(isinstance(m, torch.nn.Conv2d) and m.kernel_size == (5, 5) for m in deploy.modules())
    assert _params(deploy) < _params(train)
    x = torch.randn(1, 3, res, res, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = deploy(x), train(x)
    assert ((a - b).abs().max() / b.abs().max()).item() < 1e-9
