"""Pairing two networks' state tensors by role, shape and data flow.

Both networks are traced (archdsl/weights/trace.py): every operation that combines
activations with state tensors is a *unit*, and every unit knows the units feeding it.
Our units are visited in the order our forward runs them; each of their tensors pairs with
the reference tensor that

  1. has the same role and shape (archdsl/weights/roles.py), and
  2. sits in a reference unit fed by the units our unit's producers were paired with.

Where the two implementations split an operation differently (torchvision's
`nn.MultiheadAttention` runs `in_proj` and `out_proj` as one fused operation; ours runs a
`qkv` linear, attention, then `proj`), paired units are merged into one class and the
comparison is made between classes: the units feeding a class from outside must agree.

Registration order plays no part, so a reference that registers a layer before the one it
follows (torchvision Swin's patch merging, timm ResNetV2's projection, timm ByobNet's
shortcut, GoogLeNet's auxiliary heads) needs no rule. Where several reference tensors meet
both conditions, the structure around them decides: the part of the input they read
(DeiT's heads: token 0 or 1), the pooling or padding before them, their input sizes, and
the kinds of units and merges around them to growing depth, with the argument positions of
order-sensitive merges (attention's key and value, a concatenation's parts). A tie inside
one operation follows its argument order (DeiT's class and distillation tokens). Anything
else is an error naming both candidates, never a guess, unless the reference's rule
(archdsl/reference_rules.py) says `ties="order"`.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

import torch

from archdsl.weights.roles import is_statistic, kind, role, squeezed
from archdsl.weights.trace import INPUT, Trace, Unit


class WeightMappingError(ValueError):
    """The reference does not line up with the archdsl model (or does not compute the same function)."""


@dataclass
class Side:
    """One network's view for matching: its state tensors, which of them pair, and its trace."""

    label: str  # "ours" / "reference"
    tensors: dict[str, torch.Tensor]
    matchable: list[str]  # parameters and batch statistics (not counters or derived buffers)
    trace: Trace
    roles: dict[str, str] = field(default_factory=dict)  # names whose role a rule sets
    reshape: set[str] = field(default_factory=set)  # names a rule lets hold a tensor of another shape
    ties_in_order: bool = False  # a rule says: settle ties in the order the forward runs them
    free: set[str] = field(default_factory=set)  # names chosen by the user (`param`s of a `layer`): role from their use
    first_use: dict[str, Unit] = field(init=False)

    def __post_init__(self):
        self.first_use = self.trace.first_use

    def use(self, name: str) -> str:
        """"add" or "mul": how the tensor enters the operation that first uses it."""
        unit = self.first_use.get(name)
        return unit.uses.get(name, "mul") if unit is not None else "mul"

    def kind(self, name: str) -> tuple:
        if name in self.free:
            return (f"param ({'added' if self.use(name) == 'add' else 'multiplying'})", squeezed(self.tensors[name].shape))
        k = kind(name, self.tensors[name])
        return (self.roles[name], k[1]) if name in self.roles else k


class _Classes:
    """Union-find over units of both sides; paired units share a class."""

    def __init__(self):
        self.parent: dict = {}
        self.members: dict = {}

    def find(self, x):
        if x not in self.parent:
            self.parent[x] = x
            self.members[x] = [x]
        while self.parent[x] != x:
            self.parent[x] = self.parent[self.parent[x]]
            x = self.parent[x]
        return x

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.members[ra].extend(self.members.pop(rb))

    def paired(self, rep) -> bool:
        """Holds units of both networks (or is the input)."""
        members = self.members[rep]
        first = members[0][0]
        return any(e[0] != first for e in members)


class Matcher:
    def __init__(self, ours: Side, ref: Side, strict: bool = True):
        self.ours, self.ref = ours, ref
        self.strict = strict
        self.classes = _Classes()
        self.classes.union(("o", INPUT), ("t", INPUT))
        self.units = {("o", u.key): u for u in ours.trace.units} | {("t", u.key): u for u in ref.trace.units}
        self.pairs: "OrderedDict[str, str]" = OrderedDict()  # ours name -> reference name
        self.taken: set[str] = set()
        self.by_kind: dict[tuple, list[str]] = {}
        for r in ref.matchable:
            if r in ref.first_use:
                self.by_kind.setdefault(ref.kind(r), []).append(r)
                if r in ref.reshape:
                    t = ref.tensors[r]
                    self.by_kind.setdefault(_reshaped(ref.kind(r)[0], t), []).append(r)
        for side, s in (("o", ours), ("t", ref)):  # the uses of one set of tensors are one node
            for names, n in s.trace.occurrences.items():
                for k in range(1, n):
                    self.classes.union((side, (names, 0)), (side, (names, k)))
        self.succ: dict = {}
        self.nodes: dict = {}
        for side, s in (("o", ours), ("t", ref)):
            for unit in (*s.trace.units, *s.trace.joins):
                self.nodes[(side, unit.key)] = unit
                for p in unit.inputs:
                    self.succ.setdefault((side, p), []).append((unit.key, _edge(unit, p)))
        self._sig: dict = {}

    # -- classes ---------------------------------------------------------------------------
    def _members(self, rep) -> list:
        return self.classes.members[rep]

    def _external(self, members: list, side: str, merged: set) -> set:
        out = set()
        for e in members:
            if e[0] != side or e not in self.units:
                continue
            later = e[1][1] > 0
            for p in self.units[e].producers:
                rep = self.classes.find((side, p))
                if rep not in merged and (not later or self.classes.paired(rep)):
                    out.add(rep)
        return out

    def fits(self, u: Unit, v: Unit) -> bool:
        """Would pairing a tensor of our unit `u` with one of reference unit `v` keep the
        data flow equal: the units feeding the merged class from outside agree? (Where a
        class holds a later use of the same tensors, such as a shared layer's second use or
        timm CaiT adding its class token again, that use's inputs count once paired.)"""
        ru, rv = self.classes.find(("o", u.key)), self.classes.find(("t", v.key))
        merged = {ru, rv}
        members = self._members(ru) + (self._members(rv) if rv != ru else [])
        ext_o = self._external(members, "o", merged)
        ext_t = self._external(members, "t", merged)
        return ext_o == ext_t

    def _join(self, u: Unit, v: Unit):
        self.classes.union(("o", u.key), ("t", v.key))

    # -- pairing ---------------------------------------------------------------------------
    def _pair(self, o: str, r: str):
        self.pairs[o] = r
        self.taken.add(r)
        if o in self.ours.free:  # its kind in the surroundings' signatures is its partner's from now on
            self._sig.clear()
        self._join(self.ours.first_use[o], self.ref.first_use[r])

    def run(self) -> "OrderedDict[str, str]":
        matchable = set(self.ours.matchable)
        for u in self.ours.trace.units:
            if u.key[1]:
                continue  # a later use of tensors paired at their first use
            for o in u.names:
                if o in matchable and o not in self.pairs and self.ours.first_use.get(o) is u:
                    r = self._choose(o, u)
                    if r is not None:
                        self._pair(o, r)
        return self.pairs

    def _choose(self, o: str, u: Unit) -> str | None:
        t = self.ours.tensors[o]
        k = self.ours.kind(o)
        if o in self.ours.free:  # any parameter of the reference used alike (added, or multiplying)
            pool = [r for rs in self.by_kind.values() for r in rs if r not in self.taken and not is_statistic(r)
                    and self.ref.use(r) == self.ours.use(o) and compatible(t, self.ref.tensors[r])]
            pool = list(dict.fromkeys(pool))
        else:
            pool = [r for r in self.by_kind.get(k, ()) if r not in self.taken and compatible(t, self.ref.tensors[r])]
        if not pool and o not in self.ours.free:  # a reference tensor a rule lets hold ours in another shape
            pool = [r for r in self.by_kind.get(_reshaped(k[0], t), ()) if r not in self.taken]
        fitting = [r for r in pool if self.fits(u, self.ref.first_use[r])]
        if len(fitting) == 1:
            return fitting[0]
        if not fitting:
            if not self.strict:
                return None  # stays as it is (a new head)
            raise WeightMappingError(self._no_candidate(o, u, k, pool))
        # several: prefer a unit already merged with ours (the rest of a fused operation)
        ru = self.classes.find(("o", u.key))
        same = [r for r in fitting if self.classes.find(("t", self.ref.first_use[r].key)) == ru]
        if same:
            fitting = same
        fitting = self._narrow(fitting, u, lambda unit: unit.selection)
        fitting = self._narrow(fitting, u, lambda unit: unit.sizes)
        fitting = self._narrow_downstream(fitting, u)
        units = {self.ref.first_use[r].key for r in fitting}
        if len(units) == 1:  # a tie inside one operation: its argument order decides
            ours_same = [n for n in u.names if n not in self.pairs and self.ours.kind(n) == k]
            v = self.ref.first_use[fitting[0]]
            ref_same = [n for n in v.names if n in fitting]
            if ours_same.index(o) < len(ref_same):
                return ref_same[ours_same.index(o)]
        if self.ref.ties_in_order:  # the reference's rule: both run these in the same order
            return min(fitting, key=lambda r: self.ref.first_use[r].index)
        a, b = fitting[0], fitting[1]
        raise WeightMappingError(
            f"ambiguous: our {o} {_shape(self.ours.tensors[o])} could be the reference's {a} or {b} "
            f"(same role `{k[0]}`, shape, inputs and surroundings); if both networks run them in the same order, "
            f"a rule with ties='order' for this reference (archdsl/reference_rules.py) pairs them so")

    def _narrow(self, cands: list[str], u: Unit, key) -> list[str]:
        """Among candidates that differ in `key`, keep those agreeing with our unit."""
        keys = {key(self.ref.first_use[r]) for r in cands}
        if len(keys) > 1:
            keep = [r for r in cands if key(self.ref.first_use[r]) == key(u)]
            if keep:
                return keep
        return cands

    def _narrow_downstream(self, cands: list[str], u: Unit, depth: int = 16) -> list[str]:
        """Among candidates fed alike, keep those whose surroundings look like ours: the
        kinds of the units and merges around them, to growing depth (consumers and, through
        the merges, what they are combined with). An Inception module's 1x1 branch and the
        1x1 reduction before its 3x3 have equal inputs and shapes, not equal consumers;
        NASNet's two 3x3 branches of one input differ by the branch each is added to."""
        for d in range(1, depth + 1):
            if len({self.ref.first_use[r].key for r in cands}) == 1:
                break
            sigs = {r: self._signature("t", self.ref.first_use[r].key, d) for r in cands}
            if len(set(sigs.values())) > 1:
                keep = [r for r in cands if sigs[r] == self._signature("o", u.key, d)]
                if not keep:
                    break
                cands = keep
        return cands

    def _signature(self, side: str, key: tuple, depth: int) -> int:
        memo = (side, key, depth)
        if memo not in self._sig:
            node = self.nodes.get((side, key))
            if node is None:
                own = ("input",)
            elif node.is_join:
                own = ("join", node.kind)
            else:
                own = tuple(sorted(self._kind(side, n) for n in key[0]))
            if depth:
                down = tuple(sorted((e, self._signature(side, k, depth - 1)) for k, e in self.succ.get((side, key), ())))
                up = tuple(sorted((_edge(node, k), self._signature(side, k, depth - 1)) for k in node.inputs)) if node else ()
                self._sig[memo] = hash((own, down, up))
            else:
                self._sig[memo] = hash(own)
        return self._sig[memo]

    def _kind(self, side: str, name: str) -> tuple:
        """A tensor's kind in signatures: a `param` of ours takes its partner's once paired."""
        if side == "o":
            return self.ref.kind(self.pairs[name]) if name in self.ours.free and name in self.pairs else self.ours.kind(name)
        return self.ref.kind(name)

    def _no_candidate(self, o: str, u: Unit, k: tuple, pool: list[str]) -> str:
        t = self.ours.tensors[o]
        head = f"no reference tensor for our {o} ({k[0]}, shape {_shape(t)})"
        if not pool and o in self.ours.free:
            how = "added to" if self.ours.use(o) == "add" else "multiplying"
            return head + f": the reference has no unpaired parameter of that shape {how} an activation"
        if not pool:
            same_role = sorted({_shape(self.ref.tensors[r]) for r in self.ref.matchable
                                if r not in self.taken and self.ref.kind(r)[0] == k[0]})[:4]
            return head + (f": the reference's unpaired `{k[0]}` tensors have shapes {', '.join(same_role)}"
                           if same_role else f": the reference has no unpaired `{k[0]}` tensor left")
        feeds = sorted(self._producer_names(u))[:2]
        return (head + f" fed by {', '.join(feeds) or 'the input'}: the reference's tensors of that role and shape "
                f"({', '.join(pool[:2])}{', ...' if len(pool) > 2 else ''}) are fed by other layers")

    def _producer_names(self, u: Unit) -> list[str]:
        out = []
        for p in u.producers:
            out.append("the input" if p == INPUT else self.units[("o", p)].module or p[0][0])
        return out


def compatible(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal shapes, or equal but for size-1 dimensions where the number of dimensions differs
    (`(O, I, 1, 1)` holds `(O, I)`; `(384, 384, 1, 3)` does not hold `(384, 384, 3, 1)`)."""
    return a.shape == b.shape or (a.dim() != b.dim() and squeezed(a.shape) == squeezed(b.shape))


def _edge(node: Unit, producer) -> tuple:
    """How `producer` enters `node`: its argument positions where their order matters."""
    return node.positions.get(producer, ())


def _reshaped(role_: str, t: torch.Tensor) -> tuple:
    return role_, ("reshaped", t.numel(), t.shape[0] if t.dim() else 1)


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def matchable(tensors: dict[str, torch.Tensor], params: set[str], derived: set[str]) -> list[str]:
    """Parameters and batch statistics, in state-dict order (counters and buffers the model
    derives from its configuration are not matched)."""
    return [n for n in tensors if n not in derived and (n in params or (is_statistic(n) and role(n) != "num_batches_tracked"))]
