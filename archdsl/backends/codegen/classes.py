"""Instances -> classes: the instances of one block that share a structure become one class.

Each constructor argument of a class's layers (a leaf of their `Call`s) is written as:
- the expression the `.arch` text wrote (`4 * c`, `c * d // 64 * g`), when every instance
  carries that same expression over the class's parameters: the block's parameters and its
  input width (archdsl.ir.sym). The expression is then evaluated with each instance's own
  parameter values and must give that instance's number, or it is not used;
- the number itself, when every instance has the same one;
- else a constructor argument of its own, named after its layer (`attn_shift`).
A layer only some instances have is written behind a flag (`if shortcut:`), or, for a
layer that computes the identity at some value (`DropPath(0.0)`), with that value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from archdsl.backends.codegen.instances import Instance, Item, Step
from archdsl.backends.codegen.names import arg_name, class_name
from archdsl.backends.codegen.values import (REQUIRED, Call, Raw, defaults, evaluate, key, leaf_keywords, leaves, literal, same,
                                             sym_text)
from archdsl.ir import sym


def item_key(it: Item) -> Any:
    if it.kind == "chain":
        return (it.name, it.kind, tuple(item_key(s) for s in it.value))
    return (it.name, it.kind, key(it.value))


def step_key(steps: list[Step], out: int, bypass: set[str]) -> Any:
    alias: dict[int, int] = {}
    kept: list[Any] = []
    renum = {0: 0, -1: -1}

    def ref(v: int) -> int:
        while v in alias:
            v = alias[v]
        return renum[v]

    for st in steps:
        if st.item in bypass and st.expr is None:
            alias[st.out] = st.inputs[0]
            continue
        kept.append((st.item, st.expr, tuple(ref(i) for i in st.inputs)))
        renum[st.out] = len(kept)
    return tuple(kept), ref(out)


def compatible(big: Instance, small: Instance) -> set[str] | None:
    """Names of `big`'s items that `small` lacks, if `small` is `big` with those items as
    identities; None when the two cannot share a class."""
    bkeys = [item_key(i) for i in big.items]
    skeys = [item_key(i) for i in small.items]
    # a nested block some instances lack (a strided block's shortcut) is optional too, unless
    # the smaller instance has a block of that kind: then they differ in repeats, not in a part
    kinds = {key(i.value) for i in small.items if i.kind == "child"}
    missing: set[str] = set()
    k = 0
    for bk, it in zip(bkeys, big.items):
        if k < len(skeys) and skeys[k] == bk:
            k += 1
        elif it.kind in ("module", "chain") or it.kind == "child" and key(it.value) not in kinds:
            missing.add(it.name)
        else:
            return None
    if k != len(skeys):
        return None
    for st in big.steps:
        if st.item in missing and len(st.inputs) != 1:
            return None
    if step_key(big.steps, big.out, missing) != step_key(small.steps, small.out, set()):
        return None
    return missing


_ABSENT = object()


@dataclass
class ClassDef:
    name: str
    template: Instance
    members: list[Instance]
    optional: list[str] = field(default_factory=list)  # items behind a condition
    params: list[tuple[str, str, Any]] = field(default_factory=list)  # (name, annotation, default)
    leaf_text: dict[tuple[str, int], str | None] = field(default_factory=dict)  # (item path, leaf) -> text
    conditions: dict[str, str] = field(default_factory=dict)  # optional item -> condition
    renamed: dict[str, str] = field(default_factory=dict)  # block parameter -> argument name
    doc: str = ""


def annotation(v: Any) -> str:
    v = sym.plain(v)
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, tuple):
        return "tuple"
    return "object"


class Classes:
    """The classes of one generated file."""

    def __init__(self, reserved: set[str]) -> None:
        self.taken: set[str] = set()
        self.reserved = reserved
        self.defs: list[ClassDef] = []

    def make(self, base_name: str, instances: list[Instance], doc: str) -> list[ClassDef]:
        variants: list[tuple[Instance, list[Instance]]] = []
        for inst in instances:
            for k, (tmpl, group) in enumerate(variants):
                if compatible(tmpl, inst) is not None:
                    group.append(inst)
                    break
                if compatible(inst, tmpl) is not None and all(compatible(inst, m) is not None for m in group):
                    variants[k] = (inst, group + [inst])
                    break
            else:
                variants.append((inst, [inst]))
        out = []
        for tmpl, group in variants:
            cd = self._join(doc, tmpl, group)
            if cd is None:
                cd = ClassDef(class_name(base_name, self.taken, self.reserved), tmpl, group, doc=doc)
                self._arguments(cd)
                self.defs.append(cd)
            out.append(cd)
        return out

    def _join(self, doc: str, tmpl: Instance, group: list[Instance]) -> ClassDef | None:
        """An earlier class of the same block or layer that `group` can use unchanged, if any.

        Instances are made into classes level by level (a class needs its children's), so
        one layer used in a stage block and in the head (ResMLP's `affine`) comes here twice.
        The later group joins the earlier class when the class, written for all the members,
        takes the same arguments under the same conditions as before, so that the calls
        already written for its earlier members stay valid."""
        for cd in self.defs:
            if cd.doc != doc or compatible(cd.template, tmpl) != set() or compatible(tmpl, cd.template) != set():
                continue
            calls = [(m.call, m.cls) for m in cd.members]
            trial = ClassDef(cd.name, cd.template, cd.members + group, doc=doc)
            self._arguments(trial)
            for m, (call, cls) in zip(cd.members, calls):
                m.call, m.cls = call, cls
            if (trial.params, trial.leaf_text, trial.conditions, trial.optional, trial.renamed) == (
                    cd.params, cd.leaf_text, cd.conditions, cd.optional, cd.renamed):
                for m in group:
                    m.cls = cd
                cd.members += group
                return cd
            for m in group:
                m.call = m.cls = None
        return None

    def _arguments(self, cd: ClassDef) -> None:
        t, members = cd.template, cd.members
        missing = [(compatible(t, m) or set()) for m in members]
        by_name = [{it.name: it for it in m.items} for m in members]
        # a missing layer that can be the identity is written with its identity values
        fillable = {it.name for it in t.items if it.kind == "module" and it.identity is not None}
        for m, miss in zip(by_name, missing):
            for name in miss & fillable:
                tmpl = next(it for it in t.items if it.name == name)
                m[name] = Item(name, "module", tmpl.identity, tmpl.span, tmpl.shape, tmpl.note, tmpl.op)
        cd.optional = [it.name for it in t.items if any(it.name in ms and it.name not in fillable for ms in missing)]
        order = t.order
        safe: dict[str, str] = {}  # parameter -> its name in Python (mangled where unsafe)
        for n in order:
            safe[n] = arg_name(n, set(safe.values()))
        used: set[str] = set()
        extra: list[tuple[str, list[Any], bool | None]] = []  # (name, values per member, optional / None: a flag)
        taken = set(safe.values())

        def flat(it: Item) -> list[tuple[str, Any]]:
            if it.kind == "chain":
                return [(f"{it.name}.{s.name}", s.value) for s in it.value]
            return [(it.name, it.value)]

        for it in t.items:
            optional = it.name in cd.optional
            own_args: list[str] = []
            for path, value in flat(it):
                ds = defaults(value)
                for leaf in range(len(leaves(value))):
                    vec = []
                    for m in by_name:
                        mi = m.get(it.name)
                        vec.append(_ABSENT if mi is None else leaves(dict(flat(mi))[path])[leaf])
                    present = [(v, mem) for v, mem in zip(vec, members) if v is not _ABSENT]
                    text = self._expression(present, safe)
                    if text is not None:
                        used |= {n for n in order if re.search(rf"\b{re.escape(safe[n])}\b", text)}
                        cd.leaf_text[(path, leaf)] = text
                        continue
                    if all(same(v, present[0][0]) for v, _ in present):
                        d = ds[leaf]
                        cd.leaf_text[(path, leaf)] = None if d is not REQUIRED and same(present[0][0], d) else literal(present[0][0])
                        continue
                    base = path.replace(".", "_")
                    kw = leaf_keywords(value)[leaf]
                    nm = arg_name(f"{base}_{kw}" if kw is not None else (base if base not in taken else f"{base}_{leaf}"), taken)
                    extra.append((nm, vec, optional))
                    own_args.append(nm)
                    cd.leaf_text[(path, leaf)] = nm
            if optional:
                if own_args:
                    cd.conditions[it.name] = f"{own_args[0]} is not None"
                else:
                    flag = arg_name(it.name, taken)
                    cd.conditions[it.name] = flag
                    extra.append((flag, [it.name not in ms for ms in missing], None))
        # signature: the block's own parameters in its order, then free values, then optional ones
        per_member: list[dict[str, Any]] = [{} for _ in members]
        for n in order:
            if n not in used:
                continue
            cd.renamed[n] = safe[n]
            default = (t.group.info.get("defaults") or {}).get(n, REQUIRED)
            if isinstance(default, bool) or not isinstance(default, (int, float)):
                default = REQUIRED
            cd.params.append((safe[n], annotation(members[0].candidates[n]), default))
            for pm, m in zip(per_member, members):
                pm[safe[n]] = m.candidates[n]
        for it in t.items:  # the stage's `shared` layers this block calls
            if it.kind == "shared":
                nm = arg_name(it.name, taken | {p[0] for p in cd.params})
                cd.leaf_text[(it.name, 0)] = nm
                cd.params.append((nm, "nn.Module", REQUIRED))
                for pm in per_member:
                    pm[nm] = Raw(f"shared.{it.name}")
        for nm, vec, optional in sorted(extra, key=lambda e: e[2] is not False):
            if optional is None:  # a flag
                cd.params.append((nm, "bool", False))
            elif optional:
                present = [v for v in vec if v is not _ABSENT]
                cd.params.append((nm, annotation(present[0]) + " | None", None))
            else:
                cd.params.append((nm, annotation(vec[0]), REQUIRED))
            for pm, v in zip(per_member, vec):
                pm[nm] = None if v is _ABSENT else v
        cd.params.sort(key=lambda p: p[2] is not REQUIRED)  # required arguments first (a stable sort)
        for m, pm in zip(members, per_member):
            m.call = Call(cd.name, tuple((None if d is REQUIRED else n, pm[n], d) for n, _, d in cd.params))
            m.cls = cd

    @staticmethod
    def _expression(present: list[tuple[Any, Instance]], safe: dict[str, str]) -> str | None:
        """The expression every instance's leaf came from, over the class's parameters, if
        they all share one and it gives each instance's own value."""
        texts = set()
        for v, m in present:
            text = sym_text(v, safe)
            if text is None:
                return None
            texts.add(text)
        if len(texts) != 1:
            return None
        text = texts.pop()
        for v, m in present:
            try:
                value = evaluate(text, {safe[n]: x for n, x in m.candidates.items() if n in safe})
            except (KeyError, ValueError, TypeError, ZeroDivisionError, OverflowError):
                return None
            if not same(value, v):
                return None
        return text


__all__ = ["ClassDef", "Classes", "annotation", "compatible", "item_key", "step_key"]
