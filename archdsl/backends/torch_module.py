"""Torch backend: IR graph -> `nn.Module`.

Every IR group (net, stem, stage, block, ...) becomes one `GraphModule` whose children are
the group's layers, named as in the IR (`stages.2.blocks.5.dwconv`), and whose forward
runs the group's data flow as a flat list of steps. Plain chains take a fast path; blocks
with residuals or branches keep intermediate values in slots, released after last use.
The module holds no reference to the IR, so it pickles, deep-copies and `torch.compile`s
like any hand-written model. In eager mode an exception raised by a layer gets a note
naming the DSL text that made it (`zoo/resnet.arch:8:15`); compiled graphs skip that.
A group with side outputs (`aux:`) returns `(output, *side_outputs)` in training mode and
skips the side branches in eval mode.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import torch
from torch import nn

from archdsl import ops
from archdsl.backends.init import INIT_SCHEMES, OVERWRITES, skipping_default_init
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
        self._ninputs = 1  # slots 0 .. _ninputs - 1 hold the group's inputs (two-input cells: 2)
        self._out = 0
        self._where: list[str | None] = []  # per step: "`token` at FILE:LINE:COL", None for child groups
        # side outputs (`aux:`): slots of aux_out steps, of child groups that return side
        # outputs, and of steps only side outputs need (skipped in eval mode)
        self._naux = 0
        self._aux_slots: frozenset[int] = frozenset()
        self._child_aux: frozenset[int] = frozenset()
        self._aux_only: frozenset[int] = frozenset()

    def forward(self, x: torch.Tensor, *more: torch.Tensor) -> Any:
        # `more`: the further inputs of a group with several (a two-input cell's `prev`)
        if torch.compiler.is_compiling():
            return self._run(x, None, more)
        chain = self._chain
        if chain is None or more:
            at = [0]
            try:
                return self._run(x, at, more)
            except Exception as e:
                self._locate(e, at[0])
                raise
        # eager fast path for plain chains: children looked up in `_modules` directly (not
        # through nn.Module.__getattr__), the step index kept in a local for error notes
        k = 0
        try:
            for k, path in enumerate(chain):
                m = self
                for p in path:
                    mods = m._modules
                    m = mods[p] if p in mods else getattr(m, p)
                x = m(x)
            return x
        except Exception as e:
            self._locate(e, k)
            raise

    def _locate(self, e: Exception, k: int) -> None:
        """Add a note naming the DSL text of step `k` to an exception raised there."""
        steps_where = getattr(self, "_where", ())
        where = steps_where[k] if k < len(steps_where) else None
        if where is not None and not getattr(e, "_archdsl_located", False):
            e.add_note(f"archdsl: raised in layer {where}")
            try:
                e._archdsl_located = True  # type: ignore[attr-defined]
            except AttributeError:  # pragma: no cover - exception types without a __dict__
                pass

    def _run(self, x: torch.Tensor, at: list[int] | None, more: tuple = ()) -> Any:
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
        for k, v in enumerate(more, 1):
            vals[k] = v
        aux: list[torch.Tensor] | None = [] if self._naux else None
        for k, (kind, key, args, out, free) in enumerate(self._steps):
            if at is not None:
                at[0] = k
            if aux is not None and not self.training and out in self._aux_only:
                for f in free:
                    vals[f] = None
                continue
            if kind == _MOD:
                m = self
                for p in key:
                    if at is None:  # compiled: plain attribute access, which dynamo traces
                        m = getattr(m, p)
                    else:
                        mods = m._modules
                        m = mods[p] if p in mods else getattr(m, p)
                y = m(*[vals[a] for a in args])
            elif kind == _PARAM:
                names, fn = key
                owner = self
                for p in names[:-1]:
                    owner = getattr(owner, p)
                y = fn(getattr(owner, names[-1]), *[vals[a] for a in args])
            else:
                y = key(*[vals[a] for a in args])
            if aux is not None:
                if out in self._child_aux and isinstance(y, tuple):
                    aux.extend(y[1:])
                    y = y[0]
                elif out in self._aux_slots:
                    aux.append(y)
            vals[out] = y
            for f in free:
                vals[f] = None
        if aux:  # training mode: (output, side outputs in data-flow order)
            return (vals[self._out], *aux)
        return vals[self._out]

    def extra_repr(self) -> str:
        return self.label


IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class ArchNet(GraphModule):
    """The root module of a built network: the timm model interface plus build metadata.

    `forward_features` runs everything before the `head` group, `forward_head` the head
    (`pre_logits=True` stops before the classifier, the head's last Linear);
    `reset_classifier(n)` swaps the classifier; `num_features`, `num_classes` and
    `pretrained_cfg` are what timm training scripts read.
    """

    def __init__(self, label: str, info: dict[str, Any]):
        super().__init__(label)
        self.arch_info = info
        self.pretrained_cfg = {
            "architecture": label,
            "input_size": tuple(info["input_shape"]),
            "mean": IMAGENET_MEAN,
            "std": IMAGENET_STD,
            "crop_pct": 0.875,
            "interpolation": "bicubic",
        }

    @property
    def default_cfg(self) -> dict[str, Any]:
        return self.pretrained_cfg

    def _split(self) -> int:
        if self._chain is None or ("head",) not in self._chain:
            raise AttributeError(f"{self.label}: forward_features/forward_head need a chain-shaped network with a `head`")
        return self._chain.index(("head",))

    def _classifier(self) -> tuple[GraphModule, int]:
        head = self.head
        chain = head._chain if head._chain is not None else [st[1] for st in head._steps]
        for k in range(len(chain) - 1, -1, -1):
            if isinstance(head.get_submodule(".".join(chain[k])), (nn.Linear, nn.Identity)) and len(chain[k]) == 1:
                return head, k
        raise AttributeError(f"{self.label}: the head has no Linear classifier")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        for path in self._chain[: self._split()]:
            x = self.get_submodule(".".join(path))(x)
        return x

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if not pre_logits:
            return self.head(x)
        head, k = self._classifier()
        for path in head._chain[:k]:
            x = head.get_submodule(".".join(path))(x)
        return x

    @property
    def classifier_name(self) -> str:
        head, k = self._classifier()
        return "head." + head._chain[k][0]

    @property
    def num_features(self) -> int:
        head, k = self._classifier()
        fc = getattr(head, head._chain[k][0])
        return fc.in_features if isinstance(fc, nn.Linear) else self.arch_info.get("num_features", 0)

    @property
    def num_classes(self) -> int:
        head, k = self._classifier()
        fc = getattr(head, head._chain[k][0])
        return fc.out_features if isinstance(fc, nn.Linear) else 0

    def get_classifier(self) -> nn.Module:
        head, k = self._classifier()
        return getattr(head, head._chain[k][0])

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        head, k = self._classifier()
        name = head._chain[k][0]
        old = getattr(head, name)
        features = old.in_features if isinstance(old, nn.Linear) else self.arch_info["num_features"]
        self.arch_info["num_features"] = features
        new = nn.Linear(features, num_classes) if num_classes > 0 else nn.Identity()
        if isinstance(old, nn.Linear):
            new = new.to(device=old.weight.device, dtype=old.weight.dtype)
        setattr(head, name, new)
        self.pretrained_cfg["num_classes"] = num_classes


class FeatureNet(nn.Module):
    """`features=True`: the stem and stages of a network, returning every stage's output
    (for detection and segmentation necks). `feature_info` gives channels and strides."""

    def __init__(self, net: ArchNet, info: list[dict[str, Any]]):
        super().__init__()
        self.stem = net.stem
        self.stages = net.stages
        self.feature_info = info
        self.arch_info = net.arch_info

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        out = []
        for stage in self.stages:
            x = stage(x)
            if isinstance(x, tuple):  # a stage with side outputs (`aux:`) in training mode
                x = x[0]
            out.append(x)
        return out


def build_features(g: Graph) -> FeatureNet:
    net = build_module(g)
    if not hasattr(net, "stem") or not hasattr(net, "stages"):
        raise ArchError("features=True needs a network with `stem` and `stage` lines", None)
    h = g.input_shape[1]
    info = []
    for path, grp in sorted((p, gr) for p, gr in g.groups.items() if gr.kind == "stage"):
        inside = [n for n in g if n.scope[:2] == path]
        ids = {n.id for n in inside}
        # the stage's output: the node read outside it (not the end of a side-output branch)
        exits = [n for n in inside if n.id == g.output_id or any(s not in ids for s in g.graph.successors(n.id))]
        last = max(exits or inside, key=lambda n: g.order.index(n.id))
        shape = last.shape
        info.append({"module": f"stages.{path[1]}", "num_chs": shape[0], "reduction": h // shape[1] if len(shape) == 3 else None})
    return FeatureNet(net, info)


def build_module(g: Graph) -> ArchNet:
    members = _members(g)
    g_order = {nid: k for k, nid in enumerate(g.order)}
    members = {p: _OrderedMembers(m, g_order) for p, m in members.items()}
    info = {"name": g.name, "variant": g.variant, "params": dict(g.params), "input_shape": list(g.input_shape),
            "source": g.source_file}
    root = ArchNet(g.name if not g.variant else f"{g.name}/{g.variant}", info)
    scheme, kwargs = g.init
    if scheme not in INIT_SCHEMES:
        from archdsl.errors import did_you_mean

        raise ArchError(f"unknown init scheme `{scheme}`", None, did_you_mean(scheme, INIT_SCHEMES) or "schemes: " + ", ".join(INIT_SCHEMES))
    with skipping_default_init(OVERWRITES.get(scheme, ())):
        _fill(g, (), root, members)
    INIT_SCHEMES[scheme](root, **kwargs)
    root.pretrained_cfg["num_classes"] = g.nodes[g.output_id].shape[-1]
    return root


class _OrderedMembers(set):
    """A group's node ids, with the same ids in graph order (`ordered`)."""

    def __init__(self, ids: set[int], order: dict[int, int]):
        super().__init__(ids)
        self.ordered = sorted(ids, key=order.__getitem__)


def _members(g: Graph) -> dict[Path, set[int]]:
    out: dict[Path, set[int]] = {p: set() for p in g.groups}
    for n in g:
        for k in range(len(n.scope) + 1):
            prefix = n.scope[:k]
            if prefix in out:
                out[prefix].add(n.id)
    return out


def _fill(g: Graph, path: Path, module: GraphModule, members: dict[Path, set[int]], made: dict | None = None) -> None:
    # `made`: the GraphModule of every group filled so far, and each `shared` layer's one module
    made = {} if made is None else made
    made[path] = module
    mine = members[path]
    entries = [g.input_id] if path == () else _entries(g, mine)
    if not entries:  # pragma: no cover - lowering creates groups with inputs
        raise RuntimeError(f"group {path} has no input")
    succ = g.graph._succ  # networkx's adjacency dict: successors without a view object per call
    exits = [nid for nid in mine if nid == g.output_id or any(s not in mine for s in succ[nid])]
    if len(exits) != 1:  # pragma: no cover
        raise RuntimeError(f"group {path} has {len(exits)} outputs")
    slot = {e: k for k, e in enumerate(entries)}
    steps: list[list] = []
    where: list[str | None] = []
    done_children: set[Path] = set()
    # nodes the group's output needs (the rest only feed side outputs)
    main = nx.ancestors(g.graph, exits[0]) | {exits[0]} if any(g.nodes[n].op == "aux_out" for n in mine) else mine
    aux_slots, child_aux, aux_only = set(), set(), set()
    naux = 0
    for nid in getattr(mine, "ordered", None) or [n for n in g.order if n in mine]:
        if nid == g.input_id:
            continue
        node = g.nodes[nid]
        if node.scope != path:
            child = _child_path(g, path, node.scope)
            if child in done_children:
                continue
            done_children.add(child)
            sub = GraphModule(g.groups[child].label)
            _fill(g, child, sub, members, made)
            _attach(module, child[len(path):], sub)
            child_members = members[child]
            c_sources = _entries(g, child_members)
            c_exit = [m for m in child_members if m == g.output_id or any(s not in child_members for s in succ[m])][0]
            slot[c_exit] = len(slot)
            steps.append([_MOD, tuple(str(p) for p in child[len(path):]), tuple(slot[s] for s in c_sources), slot[c_exit]])
            where.append(None)
            if sub._naux:
                child_aux.add(slot[c_exit])
                naux += sub._naux
            if c_exit not in main:
                aux_only.add(slot[c_exit])
            continue
        spec = ops.get(node.op)
        in_shapes = [g.nodes[i].shape for i in node.inputs]
        shared = node.attrs.get("_shared")
        key = ("shared", shared["home"], shared["name"]) if shared else None
        built = made[key] if key in made else spec.build(node.attrs, in_shapes, node.shape)
        args = tuple(slot[i] for i in node.inputs)
        slot[nid] = len(slot)
        where.append(f"`{node.token}` at {node.span}")
        if node.op == "aux_out":
            aux_slots.add(slot[nid])
            naux += 1
        if nid not in main:
            aux_only.add(slot[nid])
        rel = tuple(str(p) for p in node.sub) + ((node.name,) if node.name else ())
        if shared:  # registered once, under the stage's (or section's) `shared`; every use calls that module
            if key not in made:
                made[key] = built
                _container(made[shared["home"]], ("shared",)).add_module(shared["name"], built)
            steps.append([_FN, built, args, slot[nid]])
        elif isinstance(built, nn.Parameter):
            owner = _container(module, node.sub)
            owner.register_parameter(node.name, built)
            steps.append([_PARAM, (rel, spec.forward(node.attrs)), args, slot[nid]])
        elif isinstance(built, nn.Module):
            _container(module, node.sub).add_module(node.name, built)
            steps.append([_MOD, rel, args, slot[nid]])
        else:
            steps.append([_FN, spec.forward(node.attrs), args, slot[nid]])
    module._out = slot[exits[0]]
    module._ninputs = len(entries)
    module._naux = naux
    module._aux_slots, module._child_aux, module._aux_only = frozenset(aux_slots), frozenset(child_aux), frozenset(aux_only)
    set_steps(module, steps, where, renumber=False)


def set_steps(module: GraphModule, steps: list, where: list[str | None], renumber: bool = True) -> None:
    """Install `steps` (`(kind, key, args, out, ...)` in run order) and their `where` notes in a group.

    Computes what the forward loop reads besides the steps: when each slot is released (after
    its last reader), the slot count, and the plain-chain fast path. With `renumber` (the
    inference passes, after removing or merging steps) the outputs are renumbered in step order
    after the group's input slots first, and `_out` and the side-output slot sets with them.
    """
    n_in = module._ninputs
    if renumber:
        renum = {s: s for s in range(n_in)}
        new = []
        for k, st in enumerate(steps):
            renum[st[3]] = n_in + k
            new.append((st[0], st[1], tuple(renum[a] for a in st[2]), n_in + k))
        steps = new
        module._out = renum[module._out]
        module._aux_slots, module._child_aux, module._aux_only = (
            frozenset(renum[s] for s in slots if s in renum)
            for slots in (module._aux_slots, module._child_aux, module._aux_only))
    module._nslots = n_in + len(steps)
    last_use: dict[int, int] = {}
    for k, st in enumerate(steps):
        for a in st[2]:
            last_use[a] = k
    frees: list[list[int]] = [[] for _ in steps]
    for s, k in last_use.items():
        if s != module._out:
            frees[k].append(s)
    module._steps = [(st[0], st[1], st[2], st[3], tuple(frees[k])) for k, st in enumerate(steps)]
    module._where = list(where)
    is_chain = all(st[0] == _MOD and st[2] == (k,) and st[3] == k + 1 for k, st in enumerate(steps))
    module._chain = [st[1] for st in steps] if is_chain and steps and module._out == len(steps) and not module._naux else None


def _entries(g: Graph, members: set[int]) -> list[int]:
    """A group's inputs: one, or several (two-input cells) in creation order."""
    sources = {s for nid in members for s in g.nodes[nid].inputs if s not in members}
    return sorted(sources, key=g.order.index) if len(sources) > 1 else list(sources)


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
