"""`fold_batchnorm`: an inference transform that merges each BatchNorm into the conv before it.

In eval mode `bn(conv(x)) = conv'(x)` with

    W' = W * gamma / sqrt(var + eps)        b' = (b - mean) * gamma / sqrt(var + eps) + beta

This is a model -> model function, not an IR -> IR pass: the IR describes structure and
holds no weights, and folding is arithmetic on trained weights (running statistics
included). It works on the modules the torch backend built: inside each group, a conv
step whose output is read only by the next step, a `BatchNorm2d`, absorbs it; the bn
module and its step are removed, so the folded model has fewer parameters and one fewer
op per fold. The input model is left untouched.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from archdsl.backends.torch_module import _MOD, GraphModule, set_steps


def fold_conv_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold `bn` into `conv` in place (float64 arithmetic, stored in the conv's dtype)."""
    w = conv.weight.detach().double()
    scale = bn.weight.detach().double() / torch.sqrt(bn.running_var.double() + bn.eps)
    bias = conv.bias.detach().double() if conv.bias is not None else torch.zeros_like(scale)
    new_bias = (bias - bn.running_mean.double()) * scale + bn.bias.detach().double()
    conv.weight = nn.Parameter((w * scale.reshape(-1, 1, 1, 1)).to(conv.weight.dtype))
    conv.bias = nn.Parameter(new_bias.to(conv.weight.dtype))


def _resolve(module: nn.Module, path: tuple[str, ...]) -> nn.Module:
    for p in path:
        module = getattr(module, p)
    return module


def _fold_group(gm: GraphModule) -> int:
    steps = list(gm._steps)
    where = list(gm._where)
    readers: dict[int, int] = {}
    for st in steps:
        for a in st[2]:
            readers[a] = readers.get(a, 0) + 1
    folded = 0
    k = 0
    while k < len(steps) - 1:
        kind, key, args, out = steps[k][:4]
        nk, nkey, nargs, nout = steps[k + 1][:4]
        if (kind == _MOD and nk == _MOD and nargs == (out,) and readers.get(out) == 1 and out != gm._out
                and isinstance(_resolve(gm, key), nn.Conv2d) and type(_resolve(gm, nkey)) is nn.BatchNorm2d
                and _resolve(gm, nkey).track_running_stats):
            conv, bn = _resolve(gm, key), _resolve(gm, nkey)
            if bn.affine and conv.out_channels == bn.num_features:
                fold_conv_bn(conv, bn)
                delattr(_resolve(gm, nkey[:-1]), nkey[-1])
                steps[k] = (kind, key, args, nout)  # the conv now writes the bn's slot
                del steps[k + 1], where[k + 1]
                folded += 1
                continue
        k += 1
    if folded:
        set_steps(gm, steps, where)
    return folded


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of an archdsl model, in eval mode, with every conv -> BatchNorm2d pair folded."""
    folded = copy.deepcopy(model).eval()
    total = 0
    for m in list(folded.modules()):
        if isinstance(m, GraphModule):
            total += _fold_group(m)
    folded.folded_batchnorms = total
    return folded
