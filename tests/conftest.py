"""Shared fixtures and helpers for the archdsl test suite."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ZOO = ROOT / "zoo"


def zoo(name: str) -> Path:
    return ZOO / name


def randomize_batchnorm(model: torch.nn.Module, seed: int = 0) -> None:
    """Give every norm layer non-trivial statistics and affine values, so that an
    equality test would notice a BN that is skipped, misplaced or mis-mapped."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            with torch.no_grad():
                m.running_mean.copy_(torch.rand(m.running_mean.shape, generator=g) - 0.5)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) * 1.5 + 0.5)
                m.weight.copy_(torch.rand(m.weight.shape, generator=g) + 0.5)
                m.bias.copy_(torch.rand(m.bias.shape, generator=g) * 0.4 - 0.2)


def assert_same_outputs(ours: torch.nn.Module, ref: torch.nn.Module, input_shape, rtol: float = 1e-6) -> float:
    """Float64, eval mode, batch 1; returns the relative error max|a-b| / max|b|."""
    ours = ours.double().eval()
    ref = ref.double().eval()
    x = torch.randn(1, *input_shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        a, b = ours(x), ref(x)
    assert a.shape == b.shape
    err = ((a - b).abs().max() / b.abs().max()).item()
    assert err < rtol, f"relative error {err:.3g}"
    return err


def meta_params(model_fn) -> int:
    with torch.device("meta"):
        m = model_fn()
    return sum(p.numel() for p in m.parameters())


@pytest.fixture
def tmp_arch(tmp_path):
    def write(text: str, name: str = "net.arch") -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p

    return write
