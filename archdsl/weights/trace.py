"""One traced forward: which state tensors each operation combines with which activations.

`trace(model, x)` runs one forward under a `TorchFunctionMode` and records *units*: an
operation that takes at least one activation (a tensor computed from the input) and at
least one state tensor (a parameter or a learned buffer of `model.state_dict()`), such as
a convolution with its weight and bias, a batch norm with its four tensors, `x * gamma`,
`cat([cls_token.expand(...), x])` or `attn + table[index]`. State tensors that pass through
weight-only operations first (`table[index]`, `cls_token.expand`, Swin v2's position MLP)
join the unit of the activation operation they end up in; an embedding (class token,
position table) used again later is read as the value its first use produced.

Each unit records its *producers*: the units whose outputs reach its activation inputs
through operations without state tensors (activations, pooling, reshapes), transitively
reduced. Operations merging activations of different producers (a residual add, a
concatenation, `q @ k^T`, fused attention) are *joins*: the pairing looks through them, the
tie-breaks look at them (with the argument positions of order-sensitive ones). Indexing
along a concatenated dimension narrows the producers to the indexed part (`x[:, 0]` after
`cat([cls, patches])` reads `cls` only), and each unit notes how its input was taken
(indexing, pooling, padding), the sizes of its inputs and outputs, and how each of its
state tensors enters it (`uses`: added to the activation, or multiplying it: a tensor
whose name says nothing, a `param` of a `layer` definition, pairs by that). Together they form
the data-flow graph of the network at the granularity of its state tensors, independent
of how modules are named, nested or registered; archdsl/weights/match.py compares two.

The forward runs on fake tensors (torch's FakeTensorMode: shapes, no arithmetic) where the
model allows, else for real; tensors it leaves in the model (a cache, such as timm's
`attention_bias_cache`) are taken back either way. Besides that, only `state_dict(keep_vars=True)`,
`named_modules()`, forward pre/post hooks and `torch.overrides.TorchFunctionMode` are used.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Iterable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten

from archdsl.weights.roles import role


INPUT = ("<input>", 0)  # the producer of the network's input

_SRC = "_archdsl_src"  # on activations: frozenset of producer unit keys
_WD = "_archdsl_wd"  # on weight-derived tensors: tuple of state tensor names they come from
_SEL = "_archdsl_sel"  # on activations: the selections (indexing) made since the last unit
_SEG = "_archdsl_seg"  # on concatenated activations: (dim, ((start, stop, producers), ...))
_CAT = {"cat", "concat", "concatenate"}
_VALUES = {"token", "position"}  # roles of embeddings: tensors that are values in the network, not weights

_SELECTING = {"__getitem__", "select", "narrow"}
# merges whose argument order is part of the function (not add or mul): which input is the
# key and which the value in attention; which part comes first in a concatenation
_JOINS = {"scaled_dot_product_attention": "attention", "matmul": "matmul", "__matmul__": "matmul", "bmm": "matmul",
          "baddbmm": "matmul", "einsum": "matmul", "cat": "cat", "concat": "cat", "concatenate": "cat", "stack": "cat"}


@dataclass
class Unit:
    """One operation combining activations with state tensors."""

    key: tuple  # (names, occurrence): the names in first-argument order, and which use of them this is
    names: tuple[str, ...]
    producers: frozenset  # keys of the units (or INPUT) feeding its activation inputs (joins looked through)
    module: str  # the innermost module running when it ran ("" for the root)
    index: int  # execution order
    sizes: tuple = ()  # element counts of its activation inputs and outputs (sorted, layout-free)
    selection: tuple = ()  # how its inputs were taken from their producers: indexing (`x[:, 0]`: token 0), pooling
    inputs: frozenset = frozenset()  # the units or joins feeding it directly
    kind: str = ""  # a join's operation where argument order matters ("attention", "matmul", "cat"), else ""
    positions: dict = field(default_factory=dict)  # such a join's input key -> its argument positions
    uses: dict = field(default_factory=dict)  # state tensor name -> "add" (added to the activation) or "mul" (anything else)

    @property
    def is_join(self) -> bool:
        return not self.names


@dataclass
class Trace:
    """What one forward did with a model's state tensors."""

    units: list[Unit] = field(default_factory=list)
    joins: list[Unit] = field(default_factory=list)  # operations merging activations of different producers (add, cat, matmul)
    first_use: dict[str, Unit] = field(default_factory=dict)  # state tensor name -> the unit that used it first
    occurrences: dict[tuple, int] = field(default_factory=dict)  # names -> how many units used exactly them


def state_tensors(model: nn.Module) -> dict[str, torch.Tensor]:
    """name -> the live tensor, for every entry of `model.state_dict()`; a tensor registered
    under several paths (a module shared by several blocks) keeps its first name only."""
    out: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for name, t in model.state_dict(keep_vars=True).items():
        if id(t) in seen:
            continue
        seen.add(id(t))
        out[name] = t
    return out


class _Recorder(TorchFunctionMode):
    def __init__(self, names_by_id: dict[int, str], record: Trace, stack: list[str]):
        super().__init__()
        self.names_by_id = names_by_id
        self.record = record
        self.stack = stack

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        if not inputs:
            return out
        act: set = set()
        wd: dict[str, None] = {}
        acts: list[torch.Tensor] = []
        for t in inputs:
            name = self.names_by_id.get(id(t))
            if name is not None:
                wd[name] = None
                continue
            src = getattr(t, _SRC, None)
            if src:
                act |= src
                acts.append(t)
            else:
                wd.update(dict.fromkeys(getattr(t, _WD, ())))
        if act and wd and all(role(n) in _VALUES and n in self.record.first_use for n in wd):
            # an embedding used again (timm CaiT adds its raw class token to each class block's
            # output) reads the value its first use put in the network
            act |= {self.record.first_use[n].key for n in wd}
            wd = {}
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        name = getattr(func, "__name__", "")
        if (name == "__setitem__" or (name.endswith("_") and not name.endswith("__"))) and isinstance(args[0], torch.Tensor):
            outputs.append(args[0])  # in-place: the first argument is the result
        outputs = [t for t in outputs if id(t) not in self.names_by_id]
        if not outputs:
            return out
        segs = None
        if act and wd:
            names = tuple(wd)
            k = self.record.occurrences.get(names, 0)
            self.record.occurrences[names] = k + 1
            sizes = tuple(sorted(t.numel() for t in acts)) + ("->",) + tuple(sorted(t.numel() for t in outputs))
            selection = tuple(sorted({getattr(t, _SEL, ()) for t in acts}))
            unit = Unit((names, k), names, frozenset(act), self.stack[-1] if self.stack else "", len(self.record.units),
                        sizes, selection, uses=_uses(name, args, kwargs, self.names_by_id))
            self.record.units.append(unit)
            for n in names:
                self.record.first_use.setdefault(n, unit)
            value = frozenset([unit.key])
            tag, sel = _SRC, ()
            if name in _CAT:  # cat([cls_token.expand(...), x]): x[:, 1:] still comes from x only
                segs = _segments(args, kwargs, frozenset([unit.key]))
        elif act:
            tag, value = _SRC, frozenset(act)
            sels = {getattr(t, _SEL, ()) for t in acts}
            sel = sels.pop() if len(sels) == 1 else ()
            if name in _SELECTING and len(acts) == 1:
                try:
                    parts = _selection(name, args, kwargs)
                except (TypeError, ValueError, IndexError, ZeroDivisionError):
                    parts = (("other",),)
                sel = sel + (parts,)
                value, segs = _narrowed(acts[0], parts, value)
            elif name in _CAT:
                segs = _segments(args, kwargs, value)
            elif "pool" in name or "interpolate" in name:
                sel = sel + ((name.strip("_").replace("_with_indices", ""),),)
            elif name == "pad":  # NASNet's shifted path: pad(-1, 1, -1, 1) before pooling
                pad = args[1] if len(args) > 1 else kwargs.get("pad")
                pad = tuple(int(p) for p in pad) if isinstance(pad, (tuple, list)) else ()
                if any(pad) or not pad:
                    sel = sel + (("pad", pad),)
            if name not in _SELECTING and len({getattr(t, _SRC) for t in acts}) > 1:
                # a merge of different producers (a residual add, a concatenation, q @ k^T): a
                # node of its own, so that NASNet's two 3x3 branches of one input differ by
                # what they are added to
                join = Unit((("<join>",), len(self.record.joins)), (), frozenset(act), self.stack[-1] if self.stack else "",
                            len(self.record.units), kind=_JOINS.get(name, ""))
                if join.kind:  # an operation whose argument order means something: q, k, v
                    for position, t in enumerate(inputs):
                        for p in getattr(t, _SRC, None) or ():
                            join.positions[p] = join.positions.get(p, ()) + (position,)
                self.record.joins.append(join)
                value, sel = frozenset([join.key]), ()
        elif wd:
            tag, value, sel = _WD, tuple(wd), ()
        else:
            return out
        for t in outputs:
            try:
                setattr(t, _SRC, None)
                setattr(t, _WD, ())
                setattr(t, tag, value)
                setattr(t, _SEL, sel)
                setattr(t, _SEG, segs)
            except (AttributeError, RuntimeError):  # pragma: no cover - a tensor subclass without __dict__
                pass
        return out


_ADDING = {"add", "__add__", "__radd__", "__iadd__", "add_", "sub", "__sub__", "__rsub__", "__isub__", "sub_"}
_FIRST_ADDS = {"addcmul", "addcdiv", "addmm", "addmv", "baddbmm", "addbmm", "addcmul_", "addcdiv_", "baddbmm_"}
_BIAS_AT = {"linear": 2, "conv1d": 2, "conv2d": 2, "conv3d": 2, "conv_transpose1d": 2, "conv_transpose2d": 2,
            "conv_transpose3d": 2, "layer_norm": 3, "group_norm": 3, "batch_norm": 4, "instance_norm": 4}


def _uses(func: str, args: tuple, kwargs: dict, names_by_id: dict[int, str]) -> dict[str, str]:
    """How each state tensor among the arguments enters the operation: "add" where it is
    added to (or subtracted from) the result, as `x + beta`, `torch.addcmul(bias, weight, x)`'s
    first argument or a layer's `bias`; "mul" otherwise (`gamma * x`, a weight)."""
    out: dict[str, str] = {}
    for at, arg in [*enumerate(args), *kwargs.items()]:
        adds = func in _ADDING or (at == 0 and func in _FIRST_ADDS) or at == "bias" or _BIAS_AT.get(func) == at
        for t in tree_flatten(arg)[0]:
            if isinstance(t, torch.Tensor):
                name = names_by_id.get(id(t))
                for n in (name,) if name is not None else getattr(t, _WD, ()):
                    out.setdefault(n, "add" if adds else "mul")
    return out


def _segments(args: tuple, kwargs: dict, constant: frozenset):
    """`cat([a, b], dim)`: which producers each stretch of `dim` comes from, so that a later
    `x[:, 0]` depends on `a`'s producers only (`constant`: those of a part that is no
    activation, such as an expanded class token)."""
    tensors = args[0] if args else kwargs.get("tensors")
    dim = args[1] if len(args) > 1 else kwargs.get("dim", 0)
    if not isinstance(dim, int) or not tensors:
        return None
    nd = tensors[0].dim()
    d = (dim % nd) - nd
    out, at = [], 0
    for t in tensors:
        n = t.shape[d]
        inner = getattr(t, _SEG, None)
        if inner is not None and inner[0] == d:
            out.extend((at + a, at + b, src) for a, b, src in inner[1])
        else:
            out.append((at, at + n, getattr(t, _SRC, None) or constant))
        at += n
    return (d, tuple(out))


def _narrowed(x: torch.Tensor, parts: tuple, value: frozenset):
    """The producers of `x[...]` when `x` was concatenated along the indexed dimension."""
    segs = getattr(x, _SEG, None)
    if segs is None:
        return value, None
    d, stretches = segs
    for part in parts:
        if len(part) != 2 or not isinstance(part[0], int):
            return value, None
        dim, what = part
        if what[0] == "at" and dim > d:
            return value, None  # a later dimension disappears: `d` would move
        if dim != d:
            continue
        if what[0] == "at":
            lo, hi, keep = what[1], what[1] + 1, False
        elif what[0] == "range" and len(what) == 3:
            lo, hi, keep = what[1], what[2], True
        else:
            return value, None
        hit = [(a, b, src) for a, b, src in stretches if a < hi and b > lo]
        src = frozenset().union(*(s for _, _, s in hit)) if hit else value
        inner = (d, tuple((max(a, lo) - lo, min(b, hi) - lo, s) for a, b, s in hit)) if keep else None
        return src, inner
    return value, segs


def _selection(name: str, args: tuple, kwargs: dict) -> tuple:
    """`x[:, 0]`, `x.select(1, 0)`, `x.narrow(1, 0, 1)` -> the same description: for each
    indexed dimension (counted from the end, so an extra leading dimension agrees) the part
    taken, `("at", i)` or `("range", start, stop)`."""
    x = args[0]
    nd = x.dim()
    if name == "select":
        dim, i = (list(args[1:]) + [kwargs.get("dim"), kwargs.get("index")])[:2]
        return (((dim % nd) - nd, _norm(i, x.shape[dim])),)
    if name == "narrow":
        dim, start, length = args[1:4]
        start %= x.shape[dim]
        return (((dim % nd) - nd, ("range", start, start + length)),)
    index = args[1] if isinstance(args[1], tuple) else (args[1],)
    if any(i is Ellipsis for i in index):
        at = index.index(Ellipsis)
        index = index[:at] + (slice(None),) * (nd - len(index) + 1 + sum(i is None for i in index)) + index[at + 1:]
    out = []
    dim = 0
    for i in index:
        if i is None:
            continue  # a new dimension: takes none of x's
        if dim >= nd:
            break
        if not (isinstance(i, slice) and i == slice(None)):
            out.append((dim - nd, _norm(i, x.shape[dim])))
        dim += 1
    return tuple(out)


def _norm(i, size: int) -> tuple:
    if isinstance(i, int) and not isinstance(i, bool):
        return ("at", i % size)
    if isinstance(i, slice):
        start, stop, step = i.indices(size)
        return ("range", start, stop) if step == 1 else ("range", start, stop, step)
    return ("other",)


@contextlib.contextmanager
def _module_stack(model: nn.Module, stack: list[str]):
    """Keeps `stack` holding the paths of the modules running (the innermost last)."""
    handles = []

    def pre(name):
        def hook(module, args):
            stack.append(name)
        return hook

    def post(module, args, output):
        stack.pop()

    for name, module in model.named_modules():
        handles.append(module.register_forward_pre_hook(pre(name)))
        handles.append(module.register_forward_hook(post, always_call=True))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def trace(model: nn.Module, x: torch.Tensor, constants: Iterable[str] = ()) -> Trace:
    """Run `model(x)` once (no gradients) and record its units. `constants` names state
    tensors to treat as constants (buffers the model derives from its configuration).

    The forward runs on fake tensors (torch's FakeTensorMode: shapes without arithmetic)
    where the model allows it, else for real."""
    skip = set(constants)
    names_by_id = {id(t): n for n, t in state_tensors(model).items() if n not in skip}

    def run() -> Trace:
        record = Trace()
        stack: list[str] = []
        x_ = x.detach().clone()
        setattr(x_, _SRC, frozenset([INPUT]))
        with torch.no_grad(), _module_stack(model, stack), _Recorder(names_by_id, record, stack):
            model(x_)
        _reduce(record)
        return record

    before = _tensor_attributes(model)
    try:  # shapes only: the data flow does not depend on the values
        from torch._subclasses.fake_tensor import FakeTensorMode

        with FakeTensorMode(allow_non_fake_inputs=True):
            record = run()
        if not _restore(model, before):
            return record
    except Exception:  # a model that reads values (`.item()`, data-dependent shapes): trace for real
        _restore(model, before)
    record = run()
    _restore(model, before)
    return record


def _stores(model: nn.Module):
    for m in model.modules():
        for store in (m._buffers, m._parameters, m.__dict__):
            yield m, store


def _tensor_attributes(model: nn.Module) -> dict:
    """What every module holds (buffers, parameters, plain attributes such as caches), with a
    shallow copy of each dict or list (a cache filled in place: timm's `attention_bias_cache`)."""
    return {(id(store), k): (v, copy.copy(v) if isinstance(v, (dict, list)) else None)
            for _, store in _stores(model) for k, v in store.items()}


def _restore(model: nn.Module, before: dict) -> bool:
    """Put back the tensors a forward left in the model: a module caching a tensor it
    computed (as an attribute, or in a dict or list it fills in place, as timm's
    `attention_bias_cache`) would keep a fake one, or one computed from weights about to be
    replaced. True if any was fake: the trace is then run for real."""
    from torch._subclasses.fake_tensor import FakeTensor

    fake = False
    for _, store in _stores(model):
        for k, v in list(store.items()):
            if (id(store), k) not in before:
                left = [t for t in tree_flatten(v)[0] if isinstance(t, torch.Tensor)]
                if left:
                    fake = fake or any(isinstance(t, FakeTensor) for t in left)
                    del store[k]
                continue
            old, snapshot = before[(id(store), k)]
            if old is not v:
                if isinstance(v, torch.Tensor):
                    fake = fake or isinstance(v, FakeTensor)
                    store[k] = old
            elif snapshot is not None and _changed(v, snapshot):
                fake = fake or any(isinstance(t, FakeTensor) for t in tree_flatten(v)[0])
                v.clear()
                v.update(snapshot) if isinstance(v, dict) else v.extend(snapshot)
    return fake


def _changed(v, snapshot) -> bool:
    """A dict or list filled in place (compared by identity of its items)."""
    if isinstance(v, dict):
        return v.keys() != snapshot.keys() or any(v[k] is not snapshot[k] for k in v)
    return len(v) != len(snapshot) or any(a is not b for a, b in zip(v, snapshot))


def _reduce(record: Trace) -> None:
    """Look through joins, then drop producers that already feed another producer of the
    same unit (transitive reduction): `softmax(q k^T + table[index]) @ v` then `proj` has the
    relative-position unit and `qkv` as producers where torch's fused attention has the
    relative-position unit only; both reduce to the latter. A residual add's skip input is
    dropped the same way. `inputs` keeps the direct producers, joins included."""
    joins = {j.key: j for j in record.joins}
    through: dict = {}

    def expand(key) -> frozenset:
        if key not in joins:
            return frozenset([key])
        if key not in through:
            through[key] = frozenset().union(*(expand(p) for p in joins[key].producers))
        return through[key]

    for u in (*record.units, *record.joins):
        u.inputs = u.producers
    for j in record.joins:  # in creation order: a join's inputs were made before it
        j.producers = expand(j.key)
    units = record.units
    bit = {INPUT: 1}
    ancestors = {INPUT: 0}
    for n, u in enumerate(units, start=1):
        bit[u.key] = 1 << n
    for u in units:
        u.producers = frozenset().union(*(expand(p) for p in u.inputs))
        acc = 0
        for p in u.producers:
            acc |= bit.get(p, 0) | ancestors.get(p, 0)
        ancestors[u.key] = acc
    for u in units:
        ps = [p for p in u.producers if p in bit]
        u.producers = frozenset(p for p in ps if not any(q != p and ancestors.get(q, 0) & bit[p] for q in ps))
