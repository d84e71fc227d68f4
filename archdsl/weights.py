"""Loading reference weights (torchvision / timm state dicts) into archdsl models.

Zoo files are written so that layers appear in the same order as in the reference
implementation, so the mapping is positional: the i-th tensor of the reference state
dict goes to the i-th tensor of ours, with every shape checked (a tensor may be
reshaped only when it holds the same number of elements, e.g. ConvNeXt's layer scale
(C,1,1) vs (C,)). A mismatch stops with the first pair that disagrees.

When the strict positional order fails, modules are matched instead: the tensors of
each module (consecutive keys with the same prefix) form a unit, and each reference unit
takes the first not-yet-taken unit of ours, at most `LOOKAHEAD` units ahead, whose
tensors agree in number and shape (among several, one whose module path ends in the same
two or more names as the reference's, e.g. `shortcut.conv`, else the first). This covers references that register a layer before
the one it follows in the data flow (torchvision Swin v1 registers the patch-merging
`reduction` before its `norm`; Swin v2 registers `norm1` before the `attn` it follows;
timm's ByobNet registers a bottleneck's `shortcut` before its convs).

If module matching fails too, a last, order-preserving pairing by shape is tried:
where a reference registers a few tensors out of layer order (timm's ViT puts `cls_token`
and `pos_embed` before the patch embedding, torchvision's after it; DeiT registers
`dist_token` after `pos_embed`), each of our tensors takes the earliest unused reference
tensor of the same shape. Tensors of equal shape therefore keep their relative order, so
this can only move tensors whose shapes are unique among their neighbours; the zoo tests
check the result by comparing outputs.


A module registered in several places of the reference (weights shared by several blocks,
as in CoaT) appears under each of its paths in the state dict; only its first key takes
part (archdsl registers a `shared` layer once).

Where a reference registers its modules in an order no data flow can produce, a
per-family rule in `REFERENCE_ORDER` (keyed by the arch name) reorders the reference's
keys first; each rule says why it exists.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from typing import Mapping

import torch
from torch import nn


class WeightMappingError(ValueError):
    """The reference state dict does not line up with the archdsl model."""


LOOKAHEAD = 16


def _fits(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape or a.numel() == b.numel()


def _preact_projection_after_norm1(keys: list[str]) -> list[str]:
    """timm ResNetV2 registers a block's `downsample` before `norm1`, but the projection reads
    norm1's output, so in any data-flow order it comes after: move it behind norm1."""
    rank = lambda k: 0 if ".norm1." in k else 1 if ".downsample." in k else 2  # noqa: E731
    blocks: dict[str, list[str]] = {}
    for k in keys:
        prefix = k.split(".norm1.")[0].split(".downsample.")[0] if (".norm1." in k or ".downsample." in k) else None
        blocks.setdefault(prefix or k, []).append(k)
    out: list[str] = []
    for group in blocks.values():
        out.extend(sorted(group, key=rank) if any(".downsample." in k for k in group) else group)
    return out


def _googlenet_aux_after_tap(keys: list[str]) -> list[str]:
    """torchvision GoogLeNet registers its auxiliary classifiers `aux1`/`aux2` after the whole
    trunk, but they read the outputs of inception4a / inception4d: move each behind the
    module it taps (Inception v3's `AuxLogits` is registered in place and needs no rule)."""
    taps = {"aux1.": "inception4a.", "aux2.": "inception4d."}
    moved = {a: [k for k in keys if k.startswith(a)] for a in taps}
    rest = [k for k in keys if not any(k.startswith(a) for a in taps)]
    for aux, tap in taps.items():
        if moved[aux]:
            at = max((n for n, k in enumerate(rest) if k.startswith(tap)), default=len(rest) - 1) + 1
            rest[at:at] = moved[aux]
    return rest


def _coat_stage_modules_before_blocks(keys: list[str]) -> list[str]:
    """timm CoaT registers every stage's class token, patch embedding and the two position
    encodings its blocks share (`cls_tokenN`, `patch_embedN`, `cpeN`, `crpeN`, N = 1..4) before
    all the blocks; move each stage's in front of `serial_blocksN`, class token first (as a
    group's own parameters come before its layers in a state dict)."""
    pattern = re.compile(r"(patch_embed|cls_token|cpe|crpe)(\d+)(\.|$)")
    rank = {"cls_token": 0, "patch_embed": 1, "cpe": 2, "crpe": 3}
    stage: dict[str, list[tuple[int, str]]] = {}
    rest: list[str] = []
    for k in keys:
        m = pattern.match(k)
        if m:
            stage.setdefault(m.group(2), []).append((rank[m.group(1)], k))
        else:
            rest.append(k)
    out: list[str] = []
    for k in rest:
        m = re.match(r"serial_blocks(\d+)\.", k)
        if m and m.group(1) in stage:
            out.extend(key for _, key in sorted(stage.pop(m.group(1)), key=lambda t: t[0]))
        out.append(k)
    for moved in stage.values():
        out.extend(key for _, key in sorted(moved, key=lambda t: t[0]))
    return out


def _distinct(tensors: Mapping[str, torch.Tensor], keys: list[str]) -> list[str]:
    """The first key of every tensor: a module registered under several paths (shared weights)
    appears in a state dict once per path, each time with the same storage."""
    seen: set[tuple] = set()
    out: list[str] = []
    for k in keys:
        t = tensors[k]
        ident = None
        if t.numel() and t.device.type != "meta":
            ident = (t.data_ptr(), t.dtype, tuple(t.shape), tuple(t.stride()))
        if ident is not None and ident in seen:
            continue
        if ident is not None:
            seen.add(ident)
        out.append(k)
    return out


def _nasnet_input_before_prev(keys: list[str]) -> list[str]:
    """timm NASNet's NormalCell and ReductionCell register `conv_prev_1x1` (fitting h_{i-1})
    before `conv_1x1` (fitting h_i), but its FirstCell and stem cells register h_i's first;
    nasnet.arch fits h_i first in every cell: move each cell's `conv_1x1` before its
    `conv_prev_1x1`."""
    out = list(keys)
    cells = {k.split(".conv_prev_1x1.")[0] for k in keys if ".conv_prev_1x1." in k}
    for cell in cells:
        prev = [k for k in out if k.startswith(cell + ".conv_prev_1x1.")]
        mine = [k for k in out if k.startswith(cell + ".conv_1x1.")]
        at = out.index(prev[0])
        rest = [k for k in out if k not in set(prev) | set(mine)]
        out = rest[:at] + mine + prev + rest[at:]
    return out


_LAYER_SCALE = re.compile(r"^(.+)\.ls\d\.gamma$")


def _efficientformer_layer_scales_first(keys: list[str]) -> list[str]:
    """timm's EfficientFormer keeps a block's layer scales in `LayerScale` modules (`ls1.gamma`,
    `ls2.gamma`) registered after the branch each one scales; an archdsl residual's layer
    scale is a parameter of its block (`gamma1`, `gamma2`), which a state dict lists before
    the block's modules: move them to the front of their block. `attention_bias_idxs` is no
    weight but the distance index of each query/key pair, computed from the grid size (ours
    is a buffer that is not saved): it takes no part."""
    keys = [k for k in keys if not k.endswith(".attention_bias_idxs")]
    at = {k: i for i, k in enumerate(keys)}
    block = {k: m.group(1) for k in keys if (m := _LAYER_SCALE.match(k))}
    first = {b: next(at[k] for k in keys if k.startswith(b + ".")) for b in block.values()}
    return sorted(keys, key=lambda k: (first[block[k]], 0, at[k]) if k in block else (at[k], 1, 0))


REFERENCE_ORDER = {"resnet_v2": _preact_projection_after_norm1, "googlenet": _googlenet_aux_after_tap,
                   "coat": _coat_stage_modules_before_blocks, "nasnet": _nasnet_input_before_prev,
                   "efficientformer": _efficientformer_layer_scales_first}


def map_state_dict(reference: Mapping[str, torch.Tensor], model: nn.Module) -> "OrderedDict[str, str]":
    """Our key -> reference key, checked tensor by tensor."""
    ours = model.state_dict()
    ref_keys = _distinct(reference, [k for k in reference if not k.endswith("num_batches_tracked")])
    rule = REFERENCE_ORDER.get(getattr(model, "arch_info", {}).get("name", ""))
    if rule is not None:
        ref_keys = rule(ref_keys)
    our_keys = [k for k in ours if not k.endswith("num_batches_tracked")]
    if len(ref_keys) != len(our_keys):
        raise WeightMappingError(f"reference has {len(ref_keys)} tensors, model has {len(our_keys)}")
    mapping: OrderedDict[str, str] = OrderedDict()
    for ok, rk in zip(our_keys, ref_keys):
        a, b = ours[ok], reference[rk]
        if not _fits(a, b):
            try:
                return _map_by_module(reference, ref_keys, ours, our_keys)
            except WeightMappingError:
                pass
            by_shape = _pair_by_shape(reference, ref_keys, ours, our_keys)
            if by_shape is not None:
                return by_shape
            raise WeightMappingError(f"{ok} {tuple(a.shape)} does not match reference {rk} {tuple(b.shape)}")
        mapping[ok] = rk
    return mapping


def _units(keys: list[str]) -> list[list[str]]:
    units: list[list[str]] = []
    for k in keys:
        prefix = k.rsplit(".", 1)[0] if "." in k else ""
        if units and (units[-1][0].rsplit(".", 1)[0] if "." in units[-1][0] else "") == prefix:
            units[-1].append(k)
        else:
            units.append([k])
    return units


def _name_match(ours: str, ref: str) -> int:
    """Trailing module names two keys share (`a.shortcut.conv.weight`, `b.shortcut.conv.weight`: 2),
    counted only from 2 up: one shared generic name (`bn`, `conv`) says nothing."""
    n = 0
    for x, y in zip(reversed(ours.split(".")[:-1]), reversed(ref.split(".")[:-1])):
        if x != y:
            break
        n += 1
    return n if n >= 2 else 0


def _map_by_module(reference, ref_keys, ours, our_keys) -> "OrderedDict[str, str]":
    pending = _units(our_keys)
    pairs: dict[str, str] = {}
    for ref_unit in _units(ref_keys):
        fitting = [n for n, unit in enumerate(pending[:LOOKAHEAD])
                   if len(unit) == len(ref_unit) and all(_fits(ours[o], reference[r]) for o, r in zip(unit, ref_unit))]
        if not fitting:
            raise WeightMappingError(f"no module of ours matches reference {ref_unit[0].rsplit('.', 1)[0]}")
        # equal shapes are ambiguous (a bottleneck's shortcut and its last 1x1 conv): prefer
        # the module whose name ends like the reference's, else the first in order
        n = max(fitting, key=lambda n: (_name_match(pending[n][0], ref_unit[0]), -n))
        pairs.update(zip(pending[n], ref_unit))
        del pending[n]
    return OrderedDict((k, pairs[k]) for k in our_keys)


def _pair_by_shape(reference, ref_keys, ours, our_keys) -> "OrderedDict[str, str] | None":
    """Each of our tensors takes the earliest unused reference tensor of the same shape."""
    queues: dict[tuple, list[str]] = {}
    for rk in ref_keys:
        queues.setdefault(tuple(reference[rk].shape), []).append(rk)
    mapping: OrderedDict[str, str] = OrderedDict()
    for ok in our_keys:
        queue = queues.get(tuple(ours[ok].shape))
        if not queue:
            return None
        mapping[ok] = queue.pop(0)
    return mapping


def load_reference(model: nn.Module, reference: Mapping[str, torch.Tensor] | nn.Module) -> "OrderedDict[str, str]":
    """Copy a torchvision/timm model (or its state dict) into `model`; returns the key mapping."""
    if isinstance(reference, nn.Module):
        reference = reference.state_dict()
    mapping = map_state_dict(reference, model)
    ours = model.state_dict()
    new = {}
    for ok, rk in mapping.items():
        new[ok] = reference[rk].reshape(ours[ok].shape).to(ours[ok].dtype)
    for k in ours:
        if k.endswith("num_batches_tracked"):
            new[k] = ours[k]
    model.load_state_dict(new, strict=True)
    return mapping
