"""In-place residual sums (`x.add_(shortcut)`, torchvision's `out += identity`): written only
where nothing else reads the first operand and its producer keeps no output for backward;
training gives torchvision's gradients (float64, weights copied)."""

from __future__ import annotations

import pytest
import torch
import torchvision

import archdsl


def test_resnet_adds_into_the_branch():
    source = archdsl.to_source("zoo/resnet.arch", "resnet50")
    assert "x = x.add_(shortcut)" in source and "x + shortcut" not in source


@pytest.mark.parametrize("body,inplace", [
    ("residual: conv3 bn relu conv3 bn", True),  # the branch ends in bn: its output is the sum's
    ("residual: conv3 bn relu conv3 bn gelu", False),  # gelu keeps its output... and its input for backward
    ("residual: conv3 bn relu", False),  # relu's output is needed by its backward
    ("add: [] [conv3 bn]", False),  # the first operand is the block's input, which the caller owns
])
def test_only_where_the_first_operand_may_be_overwritten(body, inplace):
    text = f"arch t()\ninput 8x8x8\nblock b():\n    {body}\nstage b() x[2]\nhead gap fc(4)\n"
    source = archdsl.to_source(text)
    assert (".add_(" in source) == inplace


@pytest.mark.parametrize("variant,ref", [("resnet18", "resnet18"), ("resnet50", "resnet50")])
def test_training_gradients_equal_torchvision(variant, ref):
    torch.manual_seed(0)
    ours = archdsl.build("zoo/resnet.arch", variant).double().train()
    theirs = getattr(torchvision.models, ref)().double().train()
    archdsl.load_reference(ours, theirs)
    grads = []
    for m, stem in ((ours, lambda m: m.stem.conv), (theirs, lambda m: m.conv1)):
        x = torch.randn(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(1), requires_grad=True)
        m(x).square().sum().backward()
        grads.append((x.grad, stem(m).weight.grad))
    (xa, wa), (xb, wb) = grads
    torch.testing.assert_close(xa, xb, rtol=1e-9, atol=1e-12)  # through every block's backward
    torch.testing.assert_close(wa, wb, rtol=1e-9, atol=1e-12)
