"""Passes that settle per-op details the torch backend needs.

- `resolve_conv_bias`: a conv gets a bias unless a layer that absorbs it (`bn`) directly follows.
- `mark_inplace`: activations may overwrite their input when nothing else reads it.
- `name_modules`: leaf module names inside each group (`conv1`, `bn1`, `dwconv`, ...); in a
  block, the activations built by the same constructor share one module (`relu`, called three
  times in a ResNet bottleneck, as torchvision writes it).
"""

from __future__ import annotations

from collections import Counter

from archdsl import ops
from archdsl.ir.graph import Graph


def resolve_conv_bias(g: Graph) -> Graph:
    for node in g:
        if ops.get(node.op).family == "conv" and node.attrs.get("bias") is None:
            users = g.readers(node.id)
            node.attrs["bias"] = not (len(users) == 1 and ops.get(g.nodes[users[0]].op).absorbs_bias)
    return g


def mark_inplace(g: Graph) -> Graph:
    """Activations that may overwrite their input, and sums that may add into their first
    operand (`x.add_(shortcut)`, torchvision's `out += identity`): where nothing else reads
    that value and its producer does not keep its output for backward."""
    for node in g:
        if node.op == "add":
            node.attrs["_inplace"] = _may_add_in_place(g, node)
            continue
        if ops.get(node.op).family != "act" or not node.inputs:
            continue
        src = g.nodes[node.inputs[0]]
        sole_reader = g.n_readers(src.id) == 1
        # Overwrite only values whose producer does not keep its output for backward
        # (conv, norms, add, cat) and that nothing else reads.
        safe_producer = ops.get(src.op).overwritable
        node.attrs["_inplace"] = sole_reader and safe_producer and src.scope == node.scope
    return g


def _may_add_in_place(g: Graph, node) -> bool:
    if len(node.inputs) != 2 or node.attrs.get("cls") or node.inputs[0] == node.inputs[1]:
        return False
    src = g.nodes[node.inputs[0]]
    return (g.n_readers(src.id) == 1 and ops.get(src.op).overwritable and src.scope == node.scope
            and src.shape is not None and src.shape == node.shape)  # no broadcast into the first operand


def name_modules(g: Graph) -> Graph:
    """Name each module-owning node by its op (`conv`, `bn`, `dwconv`, `mlp`, `gamma`),
    numbering from 1 where a name repeats inside the same container (tv's conv1/bn1 style)."""
    for n in g:
        if "_shared" in n.attrs:  # a `shared` layer: one module, named as declared, under its stage's `shared`
            n.name = n.attrs["_shared"]["name"]
    owners = [n for n in g if ops.get(n.op).module_name and "_shared" not in n.attrs]

    def base_of(n) -> str:  # in a `layer` body, `gamma = param(c, 1, 1)` and `qkv = fc(x, 3 * c)` name their module
        var = n.attrs.get("_module_var")
        return var if isinstance(var, str) and var.isidentifier() and var != "x" else ops.get(n.op).module_name

    module_of = {n.id: _shared_activation(g, n) or n.id for n in owners}  # nodes with one key share a module
    counts = Counter((n.scope, n.sub, base_of(n)) for n in {module_of[n.id]: n for n in owners}.values())
    seen: Counter = Counter()
    named: dict = {}
    for n in owners:
        if module_of[n.id] in named:
            n.name = named[module_of[n.id]]
            continue
        base = base_of(n)
        key = (n.scope, n.sub, base)
        if counts[key] == 1:
            n.name = base
        else:
            seen[key] += 1
            n.name = f"{base}{seen[key]}"
        named[module_of[n.id]] = n.name
    return g


def _shared_activation(g: Graph, n) -> tuple | None:
    """The key of a module an activation may share with the others of its block: a
    parameter-free activation, directly in a stage block (not in a container such as
    `shortcut`, which runs its layers once each), with the same constructor call."""
    spec = ops.get(n.op)
    if spec.family != "act" or spec.module is None or n.sub or g.groups[n.scope].kind != "block" or "_module_var" in n.attrs:
        return None
    ins = [g.nodes[i].shape for i in n.inputs]
    if spec.params(n.attrs, ins, n.shape) != 0:
        return None
    try:
        return (n.scope, n.op, spec.module(n.attrs, ins, n.shape))
    except Exception:  # noqa: BLE001 - a plugin's constructor that needs more than its attributes: keep it apart
        return None
