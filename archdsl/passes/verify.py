"""`verify`: structural invariants of the IR, checked between passes (bugs, not user errors)."""

from __future__ import annotations

import networkx as nx

from archdsl import ops
from archdsl.ir.graph import Graph


class IRInvariantError(RuntimeError):
    """A compiler bug: a pass left the graph in a state no pass may produce."""


def verify(g: Graph, shapes: bool = False) -> Graph:
    if not nx.is_directed_acyclic_graph(g.graph):
        raise IRInvariantError("IR graph has a cycle")
    position = {nid: k for k, nid in enumerate(g.order)}
    if len(position) != len(g.nodes):
        raise IRInvariantError("execution order does not list every node once")
    for node in g:
        if node.op not in ops.REGISTRY:
            raise IRInvariantError(f"node {node.id} has unknown op {node.op}")
        for src in node.inputs:
            if position[src] >= position[node.id]:
                raise IRInvariantError(f"node {node.id} reads node {src} before it runs")
        if node.scope not in g.groups:
            raise IRInvariantError(f"node {node.id} is in unknown group {node.scope}")
        if shapes and node.shape is None:
            raise IRInvariantError(f"node {node.id} has no shape")
    return g
