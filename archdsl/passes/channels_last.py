"""`channels_last`: an inference pass storing a convolutional network's 4-d weights in NHWC order.

PyTorch's CPU convolutions (oneDNN) run faster on channels-last tensors, and a conv whose
weight is channels-last also makes its output channels-last whatever the input's layout,
so the whole network then runs in NHWC without converting the input. Whether that pays
depends on the network; the rule, measured on CPU (2 threads, batch 8, the inference-mode
model against the same model in the default layout, see docs/performance.md):

    convert when the network has more Conv2d layers than Linear layers

ResNet-50, EfficientNet-B0 and MobileNetV3-Large (conv nets: 53 / 81 / 62 convs, 1-2
linears) ran at 1.40-1.75x the reference's eager speed in channels-last against
0.98-1.16x in the default layout; ViT-S, Swin-T and ConvNeXt-T (mostly linear layers:
1 / 4 / 22 convs against 49 / 49 / 37 linears) ran within noise of the default layout,
so they are left as they are. Like the other inference passes this works on the modules
the torch backend built and keeps the function (outputs equal in float64).
"""

from __future__ import annotations

import torch
from torch import nn


def pays(model: nn.Module) -> bool:
    """The measured rule: a network of mostly convolutions (more Conv2d than Linear layers)."""
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    linears = sum(isinstance(m, nn.Linear) for m in model.modules())
    return convs > linears


def to_channels_last(model: nn.Module) -> int:
    """Convert `model`'s 4-d parameters and buffers to channels-last in place where the rule
    says it pays; returns how many tensors were converted (0 when left as it is)."""
    if not pays(model):
        return 0
    converted = sum(1 for t in [*model.parameters(), *model.buffers()]
                    if t.dim() == 4 and not t.is_contiguous(memory_format=torch.channels_last))
    model.to(memory_format=torch.channels_last)
    return converted
