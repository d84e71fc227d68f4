"""torch.compile(fullgraph=True) traces every transformer-family zoo model without a graph break."""

from __future__ import annotations

import pytest
import torch

import archdsl
from tests.conftest import zoo

# vit.arch tiny is compiled in test_vit.py; tracing a deep model takes 10-20 s on CPU, so
# the families whose layers are covered elsewhere run with the slow tests.
FAMILIES = [("mlp_mixer.arch", "s16"), ("xcit.arch", "tiny12"), ("localvit.arch", "tiny"), ("t2t_vit.arch", "t2t_vit_14")]
SLOW = [("deit.arch", "tiny_distilled"), ("cait.arch", "xxs24"), ("deepvit.arch", "s"), ("vitc.arch", "vitc_1gf"),
        ("vit_hybrid.arch", "r50_b16")]


def _check(file: str, variant: str) -> None:
    torch._dynamo.reset()
    model = archdsl.build(zoo(file), variant).eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))


@pytest.mark.parametrize("file,variant", FAMILIES, ids=[f for f, _ in FAMILIES])
def test_torch_compile_fullgraph(file, variant):
    _check(file, variant)


@pytest.mark.slow
@pytest.mark.parametrize("file,variant", SLOW, ids=[f for f, _ in SLOW])
def test_torch_compile_fullgraph_large(file, variant):
    _check(file, variant)
