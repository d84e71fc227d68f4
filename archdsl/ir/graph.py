"""The IR: a directed graph of op nodes plus the groups (stem, stages, blocks) they belong to.

Each node is one op (a layer token, or a structural op such as `add`) with its resolved
attributes, its inputs in order, its output shape (batch excluded) once shapes are
inferred, and the source span that created it. Groups are module scopes: the torch
backend makes one `nn.Module` per group and the renderer collapses them.

The edges are the nodes' inputs; `Graph` keeps the reverse index (who reads a node) beside
them. `Graph.graph` gives the same graph as a networkx `DiGraph` for analysis; it is built
when asked for, so the torch-free commands (`check`, `fmt`) never import networkx.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Iterator

from archdsl.errors import Span

if TYPE_CHECKING:
    import networkx as nx

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
    nodes: dict[int, Node] = field(default_factory=dict)
    order: list[int] = field(default_factory=list)
    groups: dict[Path, Group] = field(default_factory=dict)
    input_id: int = -1
    output_id: int = -1
    init: tuple[str, dict[str, Any]] = ("torch", {})
    source_file: str = "<string>"
    _readers: dict[int, dict[int, None]] = field(default_factory=dict, repr=False)  # node -> its readers, in the order they were linked

    # ---- edges ----
    def readers(self, node_id: int) -> list[int]:
        """The nodes that read `node_id` (its successors)."""
        return list(self._readers.get(node_id, ()))

    def n_readers(self, node_id: int) -> int:
        return len(self._readers.get(node_id, ()))

    def edges(self) -> Iterator[tuple[int, int]]:
        return ((u, v) for u, vs in self._readers.items() for v in vs)

    def descendants(self, node_id: int) -> set[int]:
        """Every node that depends on `node_id`, not counting itself."""
        return _reach(node_id, self._readers.get)

    def ancestors(self, node_id: int) -> set[int]:
        """Every node `node_id` depends on, not counting itself."""
        return _reach(node_id, lambda i: self.nodes[i].inputs if i in self.nodes else ())

    @property
    def graph(self) -> "nx.DiGraph":
        """The data-flow graph as a networkx DiGraph (node ids; each edge's `index` is the input
        position). A new copy each call: changing it does not change the IR."""
        import networkx as nx

        d = nx.DiGraph()
        d.add_nodes_from(self._readers)
        for nid, node in self.nodes.items():
            for k, src in enumerate(node.inputs):
                d.add_edge(src, nid, index=k)
        return d

    def _link(self, src: int, dst: int) -> None:
        self._readers.setdefault(src, {})[dst] = None

    def _unlink_node(self, node_id: int) -> None:
        for src in self.nodes[node_id].inputs:
            self._readers.get(src, {}).pop(node_id, None)
        self._readers.pop(node_id, None)  # as networkx's remove_node: its out-edges go too

    def add(self, node: Node, before: int | None = None) -> Node:
        self.nodes[node.id] = node
        self._readers.setdefault(node.id, {})
        for src in node.inputs:
            self._link(src, node.id)
        if before is None:
            self.order.append(node.id)
        else:
            self.order.insert(self.order.index(before), node.id)
        return node

    def new_id(self) -> int:
        return len(self.nodes) and max(self.nodes) + 1

    def set_inputs(self, node: Node, inputs: list[int]) -> None:
        for src in node.inputs:
            self._readers.get(src, {}).pop(node.id, None)
        node.inputs = list(inputs)
        for src in inputs:
            self._link(src, node.id)

    def bypass(self, node: Node) -> None:
        """Remove a one-input node; what read it reads its input instead."""
        src = node.inputs[0]
        for user in self.readers(node.id):
            u = self.nodes[user]
            self.set_inputs(u, [src if i == node.id else i for i in u.inputs])
        if self.output_id == node.id:
            self.output_id = src
        self._unlink_node(node.id)
        del self.nodes[node.id]
        self.order.remove(node.id)

    def replace(self, old: Node, new: Node) -> None:
        """Put `new` in `old`'s place: at its position in the order, read by its readers."""
        self.add(new, before=old.id)
        for user in self.readers(old.id):
            u = self.nodes[user]
            self.set_inputs(u, [new.id if i == old.id else i for i in u.inputs])
        if self.output_id == old.id:
            self.output_id = new.id
        self._unlink_node(old.id)
        del self.nodes[old.id]
        self.order.remove(old.id)

    def remove_unread(self, node: Node) -> None:
        """Remove a node nothing reads any more."""
        self._unlink_node(node.id)
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


def _reach(start: int, step) -> set[int]:
    """The nodes reachable from `start` by `step(node) -> next nodes`, without `start`."""
    seen: set[int] = set()
    todo = list(step(start) or ())
    while todo:
        nid = todo.pop()
        if nid not in seen:
            seen.add(nid)
            todo.extend(step(nid) or ())
    seen.discard(start)
    return seen
