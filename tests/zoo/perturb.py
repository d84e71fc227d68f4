"""Perturbing reference weights before an equality check."""

from __future__ import annotations

import torch


def randomize_parameters(model: torch.nn.Module, seed: int = 0, scale: float = 0.05) -> None:
    """Add noise to every parameter, so zero-initialised biases, constant logit scales and
    unit norm weights take part in the comparison (a skipped bias would go unnoticed)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * scale)
