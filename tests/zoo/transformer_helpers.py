"""Helpers for the transformer zoo tests."""

from __future__ import annotations

import torch

import archdsl
from tests.conftest import assert_same_outputs, randomize_batchnorm


def perturb(model: torch.nn.Module, seed: int = 0, std: float = 0.05) -> torch.nn.Module:
    """Add noise to every parameter of a reference model, so that zero-initialized heads,
    unit norms, tiny layer scales and zero biases cannot hide a mis-mapped tensor."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g, dtype=p.dtype) * std)
    randomize_batchnorm(model, seed)
    return model


def check_outputs(path, variant: str, reference: torch.nn.Module, input_shape=(3, 224, 224)) -> float:
    """Perturb the reference, load it into the zoo model, compare float64 outputs."""
    torch.manual_seed(0)
    reference = perturb(reference.eval())
    ours = archdsl.build(path, variant)
    archdsl.load_reference(ours, reference)
    return assert_same_outputs(ours, reference, input_shape)
