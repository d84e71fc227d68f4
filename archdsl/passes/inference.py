"""Inference passes: the deploy form of a network, as IR -> IR rewrites before code generation.

    remove_dropout    dropout and drop-path removed (both are the identity in eval mode)
    reparameterize    a sum of parallel linear branches of one input (conv -> bn, bn, the
                      identity: RepVGG, RepLKNet) merged into one conv with a bias
    fold_batchnorm    every conv -> bn pair merged into the conv, which gets a bias
    fold_layer_scale  every layer scale (`gamma`) merged into the Linear / Mlp / conv before it

The IR holds no weights, so each rewrite that merges layers also records, as plain data,
how the merged layer's tensors follow from the trained ones (`FoldNorm`, `FoldScale`,
`MergeBranches`, by module path); archdsl/backends/deploy.py applies those records to a
trained model's state dict. The result is ordinary generated code (a conv with a bias, no
BatchNorm), not a patched module. Module names do not change: a merged layer keeps the
name of the layer it grew from, so the records and the code agree.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

from archdsl.ir.graph import Graph, Node
from archdsl.passes.modules import mark_inplace
from archdsl.ops.conv import auto_padding


def module_key(node: Node) -> str:
    """A layer's state-dict prefix: `stages.0.blocks.1.conv1`."""
    return ".".join(str(p) for p in node.module_path)


@dataclass(frozen=True)
class FoldNorm:
    """conv -> bn in eval mode is one conv: W' = W s, b' = (b - mean) s + beta, s = gamma / sqrt(var + eps)."""

    conv: str
    bn: str
    conv_bias: bool  # whether the conv had a bias before
    eps: float


@dataclass(frozen=True)
class FoldScale:
    """A per-channel scale after a layer: its weight rows and bias multiplied by gamma."""

    layer: str
    gamma: str
    has_bias: bool


@dataclass(frozen=True)
class Branch:
    conv: str | None  # None: the identity (a centred one-hot kernel per channel)
    kernel: tuple[int, int] | None
    conv_bias: bool
    bn: str | None
    eps: float = 1e-5


@dataclass(frozen=True)
class MergeBranches:
    """A sum of branches of one input as one conv: kernels zero-padded to `kernel` and added."""

    target: str
    kernel: tuple[int, int]
    channels: int
    groups: int
    branches: tuple[Branch, ...]


Rewrite = FoldNorm | FoldScale | MergeBranches


def _readers(g: Graph, node: Node) -> list[Node]:
    return [g.nodes[u] for u in g.readers(node.id)]


def _sole_reader(g: Graph, node: Node) -> Node | None:
    users = _readers(g, node)
    return users[0] if len(users) == 1 and node.id != g.output_id else None


def _kernel(node: Node) -> tuple[int, int]:
    k = 1 if node.op == "pw" else node.attrs["kernel"]
    return (k, k) if isinstance(k, int) else tuple(k)


def _plain_conv(node: Node) -> bool:
    """A conv the weight arithmetic covers: zero padding, no dilation, not shared, not SAME."""
    return (node.op in ("conv", "dw", "pw") and not node.attrs.get("same") and node.attrs.get("d", 1) == 1
            and "_shared" not in node.attrs and node.attrs.get("m", 1) == 1)


def _conv_geometry(g: Graph, node: Node) -> tuple[int, int, int, tuple[int, int], tuple[int, int]]:
    """(in, out, groups, stride, padding) of a conv node."""
    cin, cout = g.nodes[node.inputs[0]].shape[0], node.shape[0]
    groups = cin if node.op == "dw" else node.attrs["g"]
    s = node.attrs.get("stride") or 1
    p = node.attrs.get("p")
    p = auto_padding(_kernel(node), s, 1) if p is None else ((p, p) if isinstance(p, int) else tuple(p))
    return int(cin), int(cout), int(groups), (int(s), int(s)), (int(p[0]), int(p[1]))


def remove_dropout(g: Graph, records: list) -> int:
    removed = 0
    for node in list(g):
        if node.op in ("dropout", "drop_path") and _group_keeps_a_node(g, node):
            g.bypass(node)
            removed += 1
    return removed


def _group_keeps_a_node(g: Graph, node: Node) -> bool:
    return any(n.scope == node.scope and n.id != node.id for n in g)


def fold_batchnorm(g: Graph, records: list) -> int:
    folded = 0
    for node in list(g):
        if node.id not in g.nodes or not _plain_conv(node):
            continue
        bn = _sole_reader(g, node)
        if bn is None or bn.op != "bn" or len(bn.shape) != 3 or bn.scope != node.scope or bn.sub != node.sub or "_shared" in bn.attrs:
            continue
        records.append(FoldNorm(module_key(node), module_key(bn), bool(node.attrs["bias"]), float(bn.attrs["eps"])))
        node.attrs = {**node.attrs, "bias": True}
        g.bypass(bn)
        folded += 1
    return folded


def fold_layer_scale(g: Graph, records: list) -> int:
    folded = 0
    for node in list(g):
        if node.op != "layer_scale" or node.id not in g.nodes:
            continue
        src = g.nodes[node.inputs[0]]
        if _sole_reader(g, src) is not node or src.scope != node.scope or "_shared" in src.attrs:
            continue
        image = bool(node.attrs.get("image"))
        if src.op == "mlp" and (len(src.shape) == 3) == image:
            layer, bias = module_key(src) + ".fc2", bool(src.attrs["bias"])
        elif src.op == "fc" and not image:
            layer, bias = module_key(src), bool(src.attrs["bias"])
        elif _plain_conv(src) and image:
            layer, bias = module_key(src), bool(src.attrs["bias"])
        else:
            continue
        records.append(FoldScale(layer, module_key(node), bias))
        g.bypass(node)
        folded += 1
    return folded


def reparameterize(g: Graph, records: list) -> int:
    merged = 0
    for node in list(g):
        if node.op != "add" or node.attrs.get("residual") or node.id not in g.nodes or len(node.inputs) < 2:
            continue
        branches = [_branch(g, node, i) for i in node.inputs]
        if any(b is None for b in branches) or len({b[0] for b in branches}) != 1:
            continue
        convs = [b[1] for b in branches if b[1] is not None]
        if not convs:
            continue
        big = max(convs, key=lambda c: _kernel(c)[0] * _kernel(c)[1])
        cin, cout, groups, stride, pad = _conv_geometry(g, big)
        kh, kw = _kernel(big)
        ok = all(k % 2 == 1 for c in convs for k in _kernel(c))
        for c in convs:
            ci, co, gr, st, p = _conv_geometry(g, c)
            sh, sw = _kernel(c)
            ok = ok and (ci, co, gr, st) == (cin, cout, groups, stride) and sh <= kh and sw <= kw
            ok = ok and pad[0] - p[0] == (kh - sh) // 2 and pad[1] - p[1] == (kw - sw) // 2
        if any(b[1] is None for b in branches):  # the identity: as a centred one-hot kernel
            ok = ok and cin == cout and stride == (1, 1) and pad == ((kh - 1) // 2, (kw - 1) // 2)
        if not ok or any(b[2] is not None and b[2].shape[0] != cout for b in branches):
            continue
        records.append(MergeBranches(module_key(big), (kh, kw), cout, groups, tuple(
            Branch(module_key(c) if c is not None else None, _kernel(c) if c is not None else None,
                   bool(c.attrs["bias"]) if c is not None else False, module_key(bn) if bn is not None else None,
                   float(bn.attrs["eps"]) if bn is not None else 1e-5)
            for _, c, bn in branches)))
        src = branches[0][0]
        conv = Node(g.new_id(), "conv", {"kernel": (kh, kw) if kh != kw else kh, "stride": stride[0], "out": cout, "g": groups,
                                          "p": pad, "d": 1, "bias": True, "same": False, "ratio": None, "_token": big.attrs["_token"]},
                    [src], big.span, big.scope, big.token, sub=big.sub, name=big.name, shape=node.shape, block_index=big.block_index)
        g.replace(node, conv)
        for _, c, bn in branches:
            for n in (bn, c):
                if n is not None and n.id in g.nodes and not g.n_readers(n.id):
                    g.remove_unread(n)
        merged += 1
    return merged


def _branch(g: Graph, add: Node, value: int) -> tuple[int, Node | None, Node | None] | None:
    """One branch of a sum: (its source, the conv or None, the bn or None); None where the
    branch is something else or is read elsewhere."""
    node, conv, bn = g.nodes[value], None, None
    if node.op == "bn" and len(node.shape) == 3 and "_shared" not in node.attrs:
        if _sole_reader(g, node) is not add:
            return None
        bn, node = node, g.nodes[node.inputs[0]]
        if _plain_conv(node) and _sole_reader(g, node) is bn:
            conv = node
            return conv.inputs[0], conv, bn
        return node.id, None, bn
    if _plain_conv(node) and _sole_reader(g, node) is add:
        return node.inputs[0], node, None
    return value, None, None


INFERENCE_PASSES: list[tuple[str, Callable[[Graph, list], int]]] = [
    ("remove_dropout", remove_dropout),
    ("reparameterize", reparameterize),
    ("fold_batchnorm", fold_batchnorm),
    ("fold_layer_scale", fold_layer_scale),
]


def run_inference_passes(g: Graph, passes: list[str] | None = None) -> tuple[Graph, list[Rewrite], dict[str, int]]:
    """A copy of `g` with the inference passes applied (all by default, in INFERENCE_PASSES
    order): the new graph, the weight rewrites it needs, and how much each pass changed."""
    names = [n for n, _ in INFERENCE_PASSES]
    wanted = names if passes is None else list(passes)
    unknown = [p for p in wanted if p not in names]
    if unknown:
        raise ValueError(f"unknown inference pass(es) {unknown}; known: {names}")
    out = copy.deepcopy(g)
    records: list[Rewrite] = []
    counts = {}
    for name, fn in INFERENCE_PASSES:
        if name in wanted:
            counts[name] = fn(out, records)
    mark_inplace(out)  # the rewired graph: which values may be overwritten, decided again
    return out, records, counts

