"""Torch backend: IR graph -> `nn.Module`.

Every IR group (net, stem, stage, block, ...) becomes one `GraphModule` whose children are
the group's layers, named as in the IR (`stages.2.blocks.5.dwconv`), and whose forward
runs the group's data flow as a flat list of steps. Plain chains take a fast path; blocks
with residuals or branches keep intermediate values in slots, released after last use.
The module holds no reference to the IR, so it pickles, deep-copies and `torch.compile`s
like any hand-written model. In eager mode an exception raised by a layer gets a note
naming the DSL text that made it (`zoo/resnet.arch:8:15`); compiled graphs skip that.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archdsl import ops
from archdsl.backends.init import INIT_SCHEMES
from archdsl.errors import ArchError
from archdsl.ir.graph import Graph, Path

_MOD, _PARAM, _FN = 0, 1, 2


class GraphModule(nn.Module):
    """One group of an archdsl network."""

    def __init__(self, label: str):
        super().__init__()
        self.label = label
        self._steps: list[tuple] = []
        self._chain: list[tuple[str, ...]] | None = None
        self._nslots = 1
        self._out = 0
        self._where: list[str | None] = []  # per step: "`token` at FILE:LINE:COL", None for child groups

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.compiler.is_compiling():
            return self._run(x, None)
        at = [0]
        try:
            return self._run(x, at)
        except Exception as e:
            steps_where = getattr(self, "_where", ())
            where = steps_where[at[0]] if at[0] < len(steps_where) else None
            if where is not None and not getattr(e, "_archdsl_located", False):
                e.add_note(f"archdsl: raised in layer {where}")
                try:
                    e._archdsl_located = True  # type: ignore[attr-defined]
                except AttributeError:  # pragma: no cover - exception types without a __dict__
                    pass
            raise

    def _run(self, x: torch.Tensor, at: list[int] | None) -> torch.Tensor:
        if self._chain is not None:
            for k, path in enumerate(self._chain):
                if at is not None:
                    at[0] = k
                m = self
                for p in path:
                    m = getattr(m, p)
                x = m(x)
            return x
        vals: list[Any] = [None] * self._nslots
        vals[0] = x
        for k, (kind, key, args, out, free) in enumerate(self._steps):
            if at is not None:
                at[0] = k
            if kind == _MOD:
                m = self
                for p in key:
                    m = getattr(m, p)
                y = m(*[vals[a] for a in args])
            elif kind == _PARAM:
                names, fn = key
                owner = self
                for p in names[:-1]:
                    owner = getattr(owner, p)
                y = fn(getattr(owner, names[-1]), *[vals[a] for a in args])
            else:
                y = key(*[vals[a] for a in args])
            vals[out] = y
            for f in free:
                vals[f] = None
        return vals[self._out]

    def extra_repr(self) -> str:
        return self.label


class ArchNet(GraphModule):
    """The root module of a built network, with the metadata of its build."""

    def __init__(self, label: str, info: dict[str, Any]):
        super().__init__(label)
        self.arch_info = info


def build_module(g: Graph) -> ArchNet:
    members = _members(g)
    info = {"name": g.name, "variant": g.variant, "params": dict(g.params), "input_shape": list(g.input_shape),
            "source": g.source_file}
    root = ArchNet(g.name if not g.variant else f"{g.name}/{g.variant}", info)
    _fill(g, (), root, members)
    scheme, kwargs = g.init
    if scheme not in INIT_SCHEMES:
        from archdsl.errors import did_you_mean

        raise ArchError(f"unknown init scheme `{scheme}`", None, did_you_mean(scheme, INIT_SCHEMES) or "schemes: " + ", ".join(INIT_SCHEMES))
    INIT_SCHEMES[scheme](root, **kwargs)
    return root


def _members(g: Graph) -> dict[Path, set[int]]:
    out: dict[Path, set[int]] = {p: set() for p in g.groups}
    for n in g:
        for k in range(len(n.scope) + 1):
            prefix = n.scope[:k]
            if prefix in out:
                out[prefix].add(n.id)
    return out


def _fill(g: Graph, path: Path, module: GraphModule, members: dict[Path, set[int]]) -> None:
    mine = members[path]
    if path == ():
        entry = g.input_id
    else:
        sources = {s for nid in mine for s in g.nodes[nid].inputs if s not in mine}
        if len(sources) != 1:  # pragma: no cover - lowering creates single-entry groups
            raise RuntimeError(f"group {path} has {len(sources)} inputs")
        entry = sources.pop()
    exits = [nid for nid in mine if nid == g.output_id or any(s not in mine for s in g.graph.successors(nid))]
    if len(exits) != 1:  # pragma: no cover
        raise RuntimeError(f"group {path} has {len(exits)} outputs")
    slot = {entry: 0}
    steps: list[list] = []
    where: list[str | None] = []
    done_children: set[Path] = set()
    for nid in g.order:
        if nid not in mine or nid == g.input_id:
            continue
        node = g.nodes[nid]
        if node.scope != path:
            child = _child_path(g, path, node.scope)
            if child in done_children:
                continue
            done_children.add(child)
            sub = GraphModule(g.groups[child].label)
            _fill(g, child, sub, members)
            _attach(module, child[len(path):], sub)
            child_members = members[child]
            c_sources = {s for m in child_members for s in g.nodes[m].inputs if s not in child_members}
            c_exit = [m for m in child_members if m == g.output_id or any(s not in child_members for s in g.graph.successors(m))][0]
            slot[c_exit] = len(slot)
            steps.append([_MOD, tuple(str(p) for p in child[len(path):]), tuple(slot[s] for s in c_sources), slot[c_exit]])
            where.append(None)
            continue
        spec = ops.get(node.op)
        in_shapes = [g.nodes[i].shape for i in node.inputs]
        built = spec.build(node.attrs, in_shapes, node.shape)
        args = tuple(slot[i] for i in node.inputs)
        slot[nid] = len(slot)
        where.append(f"`{node.token}` at {node.span}")
        rel = tuple(str(p) for p in node.sub) + ((node.name,) if node.name else ())
        if isinstance(built, nn.Parameter):
            owner = _container(module, node.sub)
            owner.register_parameter(node.name, built)
            steps.append([_PARAM, (rel, spec.forward(node.attrs)), args, slot[nid]])
        elif isinstance(built, nn.Module):
            _container(module, node.sub).add_module(node.name, built)
            steps.append([_MOD, rel, args, slot[nid]])
        else:
            steps.append([_FN, spec.forward(node.attrs), args, slot[nid]])
    module._out = slot[exits[0]]
    module._nslots = len(slot)
    # release each slot after its last reader
    last_use: dict[int, int] = {}
    for k, st in enumerate(steps):
        for a in st[2]:
            last_use[a] = k
    frees: list[list[int]] = [[] for _ in steps]
    for s, k in last_use.items():
        if s != module._out:
            frees[k].append(s)
    module._steps = [(st[0], st[1], st[2], st[3], tuple(frees[k])) for k, st in enumerate(steps)]
    module._where = where
    is_chain = all(st[0] == _MOD and st[2] == (k,) and st[3] == k + 1 for k, st in enumerate(steps))
    if is_chain and steps and module._out == len(steps):
        module._chain = [st[1] for st in steps]


def _child_path(g: Graph, path: Path, scope: Path) -> Path:
    for k in range(len(path) + 1, len(scope) + 1):
        if scope[:k] in g.groups:
            return scope[:k]
    raise RuntimeError(f"no group between {path} and {scope}")  # pragma: no cover


def _container(module: nn.Module, sub: Path) -> nn.Module:
    for p in sub:
        p = str(p)
        if p not in module._modules:
            module.add_module(p, nn.Module())
        module = module._modules[p]
    return module


def _attach(module: nn.Module, rel: Path, child: nn.Module) -> None:
    """Attach `child` at relative path `rel`, making ModuleLists for integer components."""
    for k, p in enumerate(rel[:-1]):
        nxt = rel[k + 1]
        name = str(p)
        if name not in module._modules:
            module.add_module(name, nn.ModuleList() if isinstance(nxt, int) else nn.Module())
        module = module._modules[name]
    last = rel[-1]
    if isinstance(module, nn.ModuleList):
        if last != len(module):  # pragma: no cover
            raise RuntimeError("module list filled out of order")
        module.append(child)
    else:
        module.add_module(str(last), child)
