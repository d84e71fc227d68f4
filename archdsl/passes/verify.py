"""`verify`: structural invariants of the IR, checked between passes (bugs, not user errors)."""

from __future__ import annotations

from archdsl import ops
from archdsl.ir.graph import Graph


class IRInvariantError(RuntimeError):
    """A compiler bug: a pass left the graph in a state no pass may produce."""


def verify(g: Graph, shapes: bool = False) -> Graph:
    position = {nid: k for k, nid in enumerate(g.order)}
    if len(position) != len(g.nodes):
        raise IRInvariantError("execution order does not list every node once")
    # every edge runs forward in the execution order, so that order is a topological sort
    # and the graph has no cycle (linear time; a full acyclicity test was the slowest
    # part of checking a 10,000-layer file)
    for u, v in g.edges():
        pu, pv = position.get(u), position.get(v)
        if pu is None or pv is None:
            raise IRInvariantError(f"edge {u} -> {v} names a node outside the execution order")
        if pu >= pv:
            raise IRInvariantError("IR graph has a cycle" if u in g.descendants(v) else f"edge {u} -> {v} runs backwards")
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
