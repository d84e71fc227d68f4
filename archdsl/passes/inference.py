"""Inference passes: the deploy form of a built model, as a list of named passes.

    remove_dropout   dropout and drop-path steps removed (both are the identity in eval mode)
    reparameterize   multi-branch sums of linear branches merged into one conv (RepVGG, RepLKNet)
    fold_batchnorm   every conv -> BatchNorm2d pair merged into the conv
    fold_layer_scale every layer scale (`gamma`) merged into the Linear / Mlp / conv before it
    channels_last    4-d weights stored channels-last where that pays (conv nets on CPU;
                     the rule is in `archdsl.passes.channels_last`)

Like `fold_batchnorm` and `reparameterize` these work on the model the torch backend built,
not on the weight-free IR: each rewrites the step lists of the `GraphModule` groups. Each
pass is a function `model -> model` returning an eval-mode copy (the input is untouched);
`optimize_for_inference` copies once and runs them all in `INFERENCE_PASSES` order, so the
result computes the same function as `model.eval()` with fewer or equal parameters.
"""

from __future__ import annotations

import copy
from typing import Callable

from torch import nn

from archdsl.backends.torch_module import _MOD, GraphModule, set_steps
from archdsl.ops.modules import DropPath
from archdsl.passes.channels_last import to_channels_last
from archdsl.passes.fold_batchnorm import _fold_group
from archdsl.passes.fold_layer_scale import _fold_group as _fold_layer_scale_group
from archdsl.passes.reparameterize import _reparameterize_group, _resolve

DROPOUT_TYPES: tuple[type, ...] = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, DropPath)


def _remove_dropout_group(gm: GraphModule) -> int:
    """Remove the dropout steps of one group in place; returns how many were removed."""
    alias: dict[int, int] = {}
    kept: list[tuple] = []
    where: list[str | None] = []
    removed = 0
    steps_where = list(gm._where) + [None] * (len(gm._steps) - len(gm._where))
    for (kind, key, args, out, _free), w in zip(gm._steps, steps_where):
        args = tuple(alias.get(a, a) for a in args)
        if kind == _MOD and len(args) == 1 and isinstance(_resolve(gm, key), DROPOUT_TYPES):
            alias[out] = args[0]
            delattr(_resolve(gm, key[:-1]), key[-1])
            removed += 1
            continue
        kept.append((kind, key, args, out))
        where.append(w)
    if not removed:
        return 0
    gm._out = alias.get(gm._out, gm._out)
    set_steps(gm, kept, where)
    return removed


def _groups(model: nn.Module) -> list[GraphModule]:
    if not isinstance(model, GraphModule):
        raise TypeError(f"inference passes work on models built by archdsl.build, got {type(model).__name__}")
    return [m for m in model.modules() if isinstance(m, GraphModule)]


def remove_dropout(model: nn.Module) -> nn.Module:
    """An eval-mode copy without dropout / drop-path steps; `.removed_dropouts` counts them."""
    out = copy.deepcopy(model).eval()
    out.removed_dropouts = sum(_remove_dropout_group(g) for g in _groups(out))
    return out


def _whole_model(fn: Callable[[nn.Module], int]) -> Callable[[nn.Module], int]:
    """Mark a pass that rewrites the whole model at once (not one group at a time)."""
    fn.whole_model = True  # type: ignore[attr-defined]
    return fn


# name, rewrite in place returning a count (per group, or of the whole model when marked
# `_whole_model`), attribute the count is stored in
INFERENCE_PASSES: list[tuple[str, Callable[[GraphModule], int], str]] = [
    ("remove_dropout", _remove_dropout_group, "removed_dropouts"),
    ("reparameterize", _reparameterize_group, "reparameterized"),
    ("fold_batchnorm", _fold_group, "folded_batchnorms"),
    ("fold_layer_scale", _fold_layer_scale_group, "folded_layer_scales"),
    ("channels_last", _whole_model(to_channels_last), "channels_last_tensors"),
]


def optimize_for_inference(model: nn.Module, passes: list[str] | None = None) -> nn.Module:
    """An eval-mode copy of an archdsl model with the inference passes applied (all by default).

    The result carries one count per pass (`removed_dropouts`, `reparameterized`,
    `folded_batchnorms`, `folded_layer_scales`, `channels_last_tensors`) and `inference_passes`, the names of the passes that ran.
    """
    names = [n for n, _, _ in INFERENCE_PASSES]
    wanted = names if passes is None else list(passes)
    unknown = [p for p in wanted if p not in names]
    if unknown:
        raise ValueError(f"unknown inference pass(es) {unknown}; known: {names}")
    out = copy.deepcopy(model).eval()
    groups = _groups(out)
    for name, fn, attr in INFERENCE_PASSES:
        if name in wanted:
            setattr(out, attr, fn(out) if getattr(fn, "whole_model", False) else sum(fn(g) for g in groups))
    out.inference_passes = [n for n in names if n in wanted]
    return out
