"""The feature levels of a network: timm's `feature_info`, read from the checked graph.

A level is a module of the trunk (the stem and the stages, what `forward_features` runs)
whose output a detection or segmentation neck reads: one per resolution, the last module
at that resolution (ResNet-50: the stem's `relu` at 1/2, then each stage; MobileNetV3 and
EfficientNet, one stage in the file: the last block before each stride). A network whose
stage blocks all keep one resolution (ViT, DeiT, Mixer) has one level per block, as timm
lists them (up to where class tokens join: not CaiT's class attention). Each level is
timm's dict: `module` (its module path; a stage's last block is named by the stage),
`num_chs` (channels: an image's C, a token's width) and `reduction`
(input size / the map's size; for tokens, the patch stride). Token levels also carry
`prefix_tokens` (class / distillation tokens in front) and `grid` (rows, columns of the
patch tokens), which `forward_intermediates` needs to lay them out as NCHW maps.
"""

from __future__ import annotations

import math
from typing import Any

from archdsl import ops
from archdsl.backends.codegen.instances import Builder, Instance
from archdsl.backends.codegen.layout import assign, layout
from archdsl.backends.codegen.values import literal
from archdsl.ir.graph import Graph, Node


def _snap(ratio: float) -> int:
    """A reduction as timm writes it: the nearest power of two when the size ratio is close to
    one (299 / 35 = 8.5 -> 8: a stride-2 layer without padding loses a pixel), else the ratio."""
    p = 2 ** round(math.log2(ratio)) if ratio >= 1 else 1
    if abs(ratio / p - 1) < 0.2:
        return int(p)
    return max(1, round(ratio))


def _patch_grid(g: Graph, node: Node) -> tuple[int, int, int] | None:
    """(prefix tokens, grid rows, grid columns) of a token sequence, from where the image
    became tokens: the patch tokens keep the image's aspect (or are the image's positions
    when the sequence was made from them directly); None when no such grid is found.
    The walk goes upstream along each node's earliest input, so it passes residual blocks
    by their shortcut and never reads the heads x tokens x width tensors inside attention."""
    length = node.shape[0]
    position = {nid: k for k, nid in enumerate(g.order)}
    cur = node
    while cur.inputs:
        # upstream along the earliest input: a residual's shortcut, not its branch's insides
        src = g.nodes[min(cur.inputs, key=position.__getitem__)]
        if len(cur.shape) == 2 and len(src.shape) == 3:
            n, (_, h, w) = cur.shape[0], src.shape
            if 0 <= n - h * w <= 8:
                n = h * w
            else:
                h = math.isqrt(n * h // w) if w else 0
                if h < 1 or n % h:
                    return None
                w = n // h
            return (length - n, h, w) if length >= n else None
        cur = src
    return None


def _level(g: Graph, module: str, node: Node) -> dict[str, Any] | None:
    height = g.input_shape[1]
    shape = node.shape
    if shape is None:
        return None
    if len(shape) == 3:
        return {"module": module, "num_chs": int(shape[0]), "reduction": _snap(height / shape[1])}
    if len(shape) == 2:
        grid = _patch_grid(g, node)
        if grid is None:
            return None
        prefix, h, w = grid
        return {"module": module, "num_chs": int(shape[1]), "reduction": _snap(height / h), "prefix_tokens": prefix,
                "grid": (h, w)}
    return None


def _main_exit(g: Graph, b: Builder, path: tuple) -> Node:
    return g.nodes[b.entry_exit(path)[1]]


def feature_levels(g: Graph, b: Builder, stem_items: list[tuple[str, tuple]] | None) -> list[dict[str, Any]]:
    """The network's feature levels (see the module docstring); [] when its trunk has no
    map or token grid to offer. `stem_items` are (name, shape) of the stem's layers when it is
    an `nn.Sequential` (each a tap), None when the stem is one module."""
    taps: list[dict[str, Any] | None] = []
    if ("stem",) in g.groups:
        if stem_items is not None:
            taps += [_shaped(g, f"stem.{name}", shape) for name, shape in stem_items]
        else:
            taps.append(_level(g, "stem", _main_exit(g, b, ("stem",))))
    stages = sorted((p for p in g.groups if g.groups[p].kind == "stage"), key=lambda p: p[1])
    block_taps: list[dict[str, Any] | None] = []
    for stage in stages:
        blocks = sorted((p for p in g.groups if b.is_stage_block(p) and p[:2] == stage), key=lambda p: p[3])
        if not blocks:
            block_taps.append(_level(g, f"stages.{stage[1]}", _main_exit(g, b, stage)))
        for k, p in enumerate(blocks):  # a stage's last block is named by the stage
            name = f"stages.{stage[1]}" if k == len(blocks) - 1 else f"stages.{stage[1]}.blocks.{p[3]}"
            block_taps.append(_level(g, name, _main_exit(g, b, p)))
    if any(t is None for t in block_taps):
        return []
    if len(block_taps) > 1 and len({t["reduction"] for t in block_taps}) == 1:  # isotropic: every block
        # up to where class tokens join the sequence: CaiT's and XCiT's class-attention blocks
        # only refine the class token, and timm lists the self-attention blocks alone
        prefix = block_taps[0].get("prefix_tokens")
        return [dict(t) for t in block_taps if t.get("prefix_tokens") == prefix]
    taps += block_taps
    levels: list[dict[str, Any]] = []
    for k, t in enumerate(taps):
        if t is None or (levels and t["reduction"] < levels[-1]["reduction"]):
            continue
        nxt = next((u for u in taps[k + 1:] if u is not None), None)
        if nxt is None or nxt["reduction"] != t["reduction"]:
            levels.append(dict(t))
    return levels


def _shaped(g: Graph, module: str, shape: tuple | None) -> dict[str, Any] | None:
    if shape is None or len(shape) != 3:
        return None  # a stem that makes tokens: its last layer is no map a neck reads
    return {"module": module, "num_chs": int(shape[0]), "reduction": _snap(g.input_shape[1] / shape[1])}


def feature_norm(g: Graph, head: Instance | None, sequential: bool) -> list[str]:
    """The head's leading norm and activation layers (ViT's final LayerNorm, ResNet-v2's
    bn relu): what `forward_intermediates(norm=True)` applies to the last level's maps."""
    if head is None:
        return []
    names = []
    items = {it.name: it for it in head.items}
    for k, st in enumerate(head.steps):
        it = items.get(st.item) if st.item is not None else None
        if it is None or it.kind != "module" or it.op is None or ops.get(it.op).family not in ("norm", "act"):
            break
        if not sequential and (st.inputs != [k] or st.out != k + 1):
            break
        names.append(f"head.{it.name}")
    return names


def feature_lines(g: Graph, b: Builder, stem: Instance | None, head: Instance | None, head_sequential: bool) -> list[str]:
    """The constructor lines setting `feature_info` (and `feature_norm` where the head has one)."""
    stem_items = [(it.name, it.shape) for it in stem.items] if stem is not None else None
    rows = []
    for info in feature_levels(g, b, stem_items):
        row = [info["module"], info["num_chs"], info["reduction"]]
        if "grid" in info:
            row += [info["prefix_tokens"], *info["grid"]]
        rows.append(literal(tuple(row)))
    if not rows:
        return ["        self.feature_info = []  # no stem and stages with maps to offer"]
    lines = ["        # feature levels (timm's feature_info): module, channels, reduction"]
    if "grid" in info:
        lines.append("        # and, for tokens: class tokens in front, grid rows, grid columns")
    lines += layout(8, "self.feature_info = feature_levels", rows)
    norm = feature_norm(g, head, head_sequential)
    if norm:
        lines.append("        # the head's final norm, which forward_intermediates(norm=True) applies")
        lines += assign(8, "self.feature_norm", literal(tuple(norm)))
    return lines
