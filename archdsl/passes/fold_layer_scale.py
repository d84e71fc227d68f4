"""`fold_layer_scale`: merge a layer scale (CaiT / ConvNeXt `gamma`) into the layer before it.

In eval mode a per-channel scale after a linear map is part of that map:

    gamma * (x W^T + b) = x (gamma W)^T + gamma b

so where a `layer_scale` step reads the output of a Linear, an `Mlp` (its `fc2`) or a
Conv2d (image layout) that nothing else reads, the scale is multiplied into that layer's
weight and bias (float64 arithmetic, stored in the layer's dtype) and its step and `gamma`
parameter are removed: one elementwise pass over the branch's activations less per block.
Works on the torch backend's step lists, like `fold_batchnorm`.
"""

from __future__ import annotations

import torch
from torch import nn

from archdsl.backends.torch_module import _MOD, _PARAM, GraphModule, set_steps
from archdsl.ops.modules import Mlp


def _resolve(module: nn.Module, path: tuple[str, ...]) -> nn.Module:
    for p in path:
        module = getattr(module, p)
    return module


def _is_layer_scale(step: tuple) -> bool:
    return step[0] == _PARAM and hasattr(step[1][1], "layer_scale_image")


def _target(m: nn.Module, image: bool) -> nn.Linear | nn.Conv2d | None:
    """The layer whose output channels the scale multiplies, or None where folding is not exact."""
    if isinstance(m, Mlp) and type(m.fc2) is nn.Linear and (m.channels_first == image):
        return m.fc2
    if type(m) is nn.Linear and not image:
        return m
    if type(m) is nn.Conv2d and image:
        return m
    return None


def scale_into(layer: nn.Linear | nn.Conv2d, gamma: torch.Tensor) -> None:
    """Multiply the output channels of `layer` by `gamma`, in place."""
    g = gamma.detach().double()
    w = layer.weight.detach().double() * g.reshape(-1, *([1] * (layer.weight.dim() - 1)))
    layer.weight = nn.Parameter(w.to(layer.weight.dtype))
    if layer.bias is not None:
        layer.bias = nn.Parameter((layer.bias.detach().double() * g).to(layer.weight.dtype))


def _fold_group(gm: GraphModule) -> int:
    steps, where = list(gm._steps), list(gm._where)
    readers: dict[int, int] = {}
    for st in steps:
        for a in st[2]:
            readers[a] = readers.get(a, 0) + 1
    producer = {st[3]: k for k, st in enumerate(steps)}
    drop: set[int] = set()
    for k, st in enumerate(steps):
        if not _is_layer_scale(st) or len(st[2]) != 1:
            continue
        src = st[2][0]
        p = producer.get(src)
        if p is None or p in drop or steps[p][0] != _MOD or readers.get(src) != 1 or src == gm._out:
            continue
        names, fn = st[1]
        owner = _resolve(gm, names[:-1])
        gamma = getattr(owner, names[-1])
        layer = _target(_resolve(gm, steps[p][1]), fn.layer_scale_image)
        if layer is None:
            continue
        if gamma.numel() != (layer.out_channels if isinstance(layer, nn.Conv2d) else layer.out_features):
            continue
        scale_into(layer, gamma)
        delattr(owner, names[-1])
        steps[p] = (*steps[p][:3], st[3])  # the layer now writes the scale's slot
        drop.add(k)
    if not drop:
        return 0
    keep = [k for k in range(len(steps)) if k not in drop]
    set_steps(gm, [steps[k] for k in keep], [where[k] for k in keep])
    return len(drop)
