"""The IR: a networkx DiGraph of op nodes plus the groups (stem, stages, blocks) they belong to.

Each node is one op (a layer token, or a structural op such as `add`) with its resolved
attributes, its inputs in order, its output shape (batch excluded) once shapes are
inferred, and the source span that created it. Groups are module scopes: the torch
backend makes one `nn.Module` per group and the renderer collapses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

import networkx as nx

from archdsl.errors import Span

Shape = tuple[int, ...]
Path = tuple  # module path, e.g. ("stages", 2, "blocks", 5)


@dataclass
class Node:
    id: int
    op: str
    attrs: dict[str, Any]
    inputs: list[int]
    span: Span
    scope: Path  # the group this node runs in
    token: str  # how the DSL spelled it, for summaries and diagrams: "dw7", "conv4/4"
    sub: Path = ()  # container inside the group, e.g. ("shortcut",)
    name: str | None = None  # leaf module name inside scope+sub, set by `name_modules`
    shape: Shape | None = None
    block_index: int | None = None  # global index of the stage block it belongs to

    @property
    def module_path(self) -> Path:
        return self.scope + self.sub + ((self.name,) if self.name else ())


@dataclass
class Group:
    path: Path
    kind: str  # net | stem | stage | down | block | head | call
    label: str
    span: Span
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """Op nodes in execution order, their data-flow edges, and module groups."""

    name: str
    variant: str | None
    params: dict[str, Any]
    input_shape: Shape
    graph: nx.DiGraph = field(default_factory=nx.DiGraph)
    nodes: dict[int, Node] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    groups: dict[Path, Group] = field(default_factory=dict)
    input_id: int = -1
    output_id: int = -1
    init: tuple[str, dict[str, Any]] = ("torch", {})
    source_file: str = "<string>"

    def add(self, node: Node, before: int | None = None) -> Node:
        self.nodes[node.id] = node
        self.graph.add_node(node.id)
        for k, src in enumerate(node.inputs):
            self.graph.add_edge(src, node.id, index=k)
        if before is None:
            self.order.append(node.id)
        else:
            self.order.insert(self.order.index(before), node.id)
        return node

    def new_id(self) -> int:
        return len(self.nodes) and max(self.nodes) + 1

    def set_inputs(self, node: Node, inputs: list[int]) -> None:
        for src in node.inputs:
            if self.graph.has_edge(src, node.id):
                self.graph.remove_edge(src, node.id)
        node.inputs = list(inputs)
        for k, src in enumerate(inputs):
            self.graph.add_edge(src, node.id, index=k)

    def bypass(self, node: Node) -> None:
        """Remove a one-input node; what read it reads its input instead."""
        src = node.inputs[0]
        for user in list(self.graph.successors(node.id)):
            u = self.nodes[user]
            self.set_inputs(u, [src if i == node.id else i for i in u.inputs])
        if self.output_id == node.id:
            self.output_id = src
        self.graph.remove_node(node.id)
        del self.nodes[node.id]
        self.order.remove(node.id)

    def replace(self, old: Node, new: Node) -> None:
        """Put `new` in `old`'s place: at its position in the order, read by its readers."""
        self.add(new, before=old.id)
        for user in list(self.graph.successors(old.id)):
            u = self.nodes[user]
            self.set_inputs(u, [new.id if i == old.id else i for i in u.inputs])
        if self.output_id == old.id:
            self.output_id = new.id
        self.graph.remove_node(old.id)
        del self.nodes[old.id]
        self.order.remove(old.id)

    def remove_unread(self, node: Node) -> None:
        """Remove a node nothing reads any more."""
        self.graph.remove_node(node.id)
        del self.nodes[node.id]
        self.order.remove(node.id)

    def __iter__(self) -> Iterator[Node]:
        return (self.nodes[i] for i in self.order)

    def __len__(self) -> int:
        return len(self.order)

    def group_of(self, node: Node) -> Group:
        return self.groups[node.scope]

    def stage_blocks(self) -> list[Group]:
        return [g for g in self.groups.values() if g.kind == "block" and len(g.path) == 4]
