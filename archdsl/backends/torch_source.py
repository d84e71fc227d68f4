"""Torch source backend: IR graph -> one self-contained, readable PyTorch file.

The generated file imports only torch (and math when needed) and holds one `nn.Module`
class per user-defined block (plus one for an inline stage body), one `Stage` helper and
one class for the network. Stages with `shared` layers, two-input cells (`prev`) or side
outputs (`aux:`) use `SharedStage`, `CellStage` or `AuxStage` instead; a network whose
last layer is `outputs:` returns the tuple of its maps, like the built one. Module attribute names are exactly those of the
`archdsl.build` model, so state dicts move between the two unchanged.

How a class is made from the IR: every instance of a block (every stage block, every
nested call) is rendered to a list of layer constructors whose literal values are
"leaves". Instances with the same layers form one class; a leaf that differs between
instances becomes a constructor argument, named after the block parameter it equals
(`c`, `4 * c`, `s`, `in_channels`) or after its layer (`drop_path`). A layer present in
only some instances (a projection shortcut, a stochastic-depth drop) becomes optional:
an identity unless a flag or argument says otherwise. Stages build their blocks in
loops; per-block values that follow no pattern live in one table.

Safety: nothing from the `.arch` text reaches the output except identifiers checked by
`_attr_name` / `_arg_name` / `_class_name` and literals written by `_literal` (numbers,
booleans, a closed set of strings) or by `_escape` (comments, docstrings: printable ASCII
only, everything else as `\\xNN` escapes, so no text can end a comment or a string).
The layout follows ruff's formatter, so generated files pass `ruff format --check`.
"""

from __future__ import annotations

import builtins
import keyword
import math
import os
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import networkx as nx
import torch
from torch import nn

from archdsl import ops
from archdsl.errors import ArchError, Span
from archdsl.ir.graph import Graph, Group
from archdsl.ops import modules as archmods
from archdsl.ops.activation import ACTIVATIONS

LINE_WIDTH = 88
_TEMPLATES = Path(__file__).with_name("templates")


# ---- code values ----------------------------------------------------------------------
class _NoDefault:
    def __repr__(self) -> str:
        return "<required>"


REQUIRED = _NoDefault()


@dataclass(frozen=True)
class Call:
    """`func(args)`: `func` is trusted text; each arg is (keyword or None, value, default)."""

    func: str
    args: tuple[tuple[str | None, Any, Any], ...] = ()


@dataclass(frozen=True)
class Tup:
    items: tuple


@dataclass(frozen=True)
class Sym:
    """Trusted expression text (an argument name, `4 * c`, a table lookup)."""

    text: str


def _call(func: str, *pos: Any, **kw: Any) -> Call:
    """Positional args are required; keyword args are `name=(value, default)`."""
    args = [(None, v, REQUIRED) for v in pos]
    args += [(k, v, d) for k, (v, d) in kw.items()]
    return Call(func, tuple(args))


def _leaves(v: Any) -> list[Any]:
    if isinstance(v, Call):
        return [x for _, a, _ in v.args for x in _leaves(a)]
    if isinstance(v, Tup):
        return [x for a in v.items for x in _leaves(a)]
    return [v]


def _key(v: Any) -> Any:
    """The structure of a value with its leaves blanked: equal keys, same code shape."""
    if isinstance(v, Call):
        return ("call", v.func, tuple((k, _key(a), repr(d)) for k, a, d in v.args))
    if isinstance(v, Tup):
        return ("tup", tuple(_key(a) for a in v.items))
    return "?"


def _literal(v: Any) -> str:
    if isinstance(v, Sym):
        return v.text
    if v is None or isinstance(v, bool):
        return repr(v)
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            raise ValueError(f"non-finite float {v!r} cannot be written as a literal")
        return repr(v)
    if isinstance(v, str):
        if not re.fullmatch(r"[A-Za-z0-9_.\-]*", v):
            raise ValueError(f"string {v!r} is not a safe literal")
        return f'"{v}"'
    if isinstance(v, tuple):
        inner = ", ".join(_literal(x) for x in v)
        return f"({inner},)" if len(v) == 1 else f"({inner})"
    raise TypeError(f"cannot write {type(v).__name__} as a literal")


def _render(v: Any, leaf: Callable[[int, Any], str | None], counter: list[int]) -> str:
    """Render a value; `leaf(index, value)` gives each leaf's text (None: omit the kwarg)."""
    if isinstance(v, Call):
        parts = []
        for k, a, d in v.args:
            start = counter[0]
            text = _render(a, leaf, counter)
            if k is not None and not isinstance(a, (Call, Tup)) and leaf(start, None) is None:
                continue  # a constant equal to its default
            parts.append(text if k is None else f"{k}={text}")
        return f"{v.func}({', '.join(parts)})"
    if isinstance(v, Tup):
        items = [_render(a, leaf, counter) for a in v.items]
        return f"({items[0]},)" if len(items) == 1 else f"({', '.join(items)})"
    k = counter[0]
    counter[0] += 1
    text = leaf(k, v)
    return text if text is not None else _literal(v)


def _leaf_keywords(v: Any, kw: str | None = None) -> list[str | None]:
    """The keyword each leaf is passed by (None: positional), in leaf order."""
    if isinstance(v, Call):
        return [x for k, a, _ in v.args for x in _leaf_keywords(a, k)]
    if isinstance(v, Tup):
        return [x for a in v.items for x in _leaf_keywords(a, kw)]
    return [kw]


def _defaults(v: Any) -> list[Any]:
    """The default of each leaf (REQUIRED where there is none), in leaf order."""
    if isinstance(v, Call):
        out = []
        for _, a, d in v.args:
            sub = _defaults(a)
            if not isinstance(a, (Call, Tup)):
                sub = [d]
            out += sub
        return out
    if isinstance(v, Tup):
        return [x for a in v.items for x in _defaults(a)]
    return [REQUIRED]


def render_plain(v: Any) -> str:
    """A value with every leaf literal, omitting keyword args equal to their default."""
    defaults = _defaults(v)
    leaves = _leaves(v)

    def leaf(k: int, _v: Any) -> str | None:
        d = defaults[k]
        if d is not REQUIRED and _same(leaves[k], d):
            return None
        return _literal(leaves[k])

    return _render(v, leaf, [0])


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


# ---- text safety ----------------------------------------------------------------------
_SAFE_CHARS = set(map(chr, range(0x20, 0x7F))) - {"\\", '"'}


def _escape(text: str, limit: int | None = None) -> str:
    """Printable ASCII kept; anything else (quotes, backslashes, newlines, non-ASCII) as
    `\\xNN` / `\\uNNNN`, so the text cannot end a comment or a string it is put in."""
    out = []
    for ch in text:
        if ch in _SAFE_CHARS:
            out.append(ch)
        elif ord(ch) < 0x100:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) < 0x10000:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    s = "".join(out).rstrip()
    if limit is not None and len(s) > limit:
        s = s[: limit - 3].rstrip("\\") + "..."
    return s


def _helper_names() -> set[str]:
    """Every class and function the helper templates define (generated names avoid them)."""
    names = set()
    for path in (_TEMPLATES / "helpers").glob("*.py.j2"):
        names |= set(re.findall(r"^(?:class|def) (\w+)", path.read_text(encoding="utf-8"), re.MULTILINE))
    return names


_RESERVED = {"self", "x", "nn", "torch", "math", "F", "super", "blocks", "down", "stage", "block", "k", "_", "prev", "shared",
             "keep_prev",
             "range", "list", "int", "float", "bool", "None", "True", "False", "Stage", "LayerNorm2d", "Mlp",
             "GlobalPool", "DropPath"} | set(dir(builtins)) | _helper_names()


def _is_plain_identifier(name: str) -> bool:
    return name.isascii() and name.isidentifier() and not keyword.iskeyword(name) and not keyword.issoftkeyword(name)


def _attr_name(name: str, span: Span | None) -> str:
    """A module attribute name must be used verbatim (it is a state-dict key), so a name
    Python would mangle or reject is an error at the DSL text that made it."""
    if not _is_plain_identifier(name) or name.startswith("__") or hasattr(nn.Module, name):
        raise ArchError(f"`{_escape(name, 40)}` cannot be a module attribute in generated Python", span,
                        "rename the block: names starting with `__` and Python keywords are not allowed here")
    return name


def _arg_name(name: str, taken: set[str]) -> str:
    """A constructor argument name: user parameter names are mangled when unsafe."""
    base = name if _is_plain_identifier(name) and not name.startswith("_") and name not in _RESERVED else "p_" + re.sub(r"\W", "_", name.strip("_") or "arg")
    out, n = base, 2
    while out in taken or not _is_plain_identifier(out):
        out, n = f"{base}_{n}", n + 1
    taken.add(out)
    return out


def _class_name(name: str, taken: set[str]) -> str:
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    base = "".join(p[:1].upper() + p[1:] for p in parts) or "Block"
    if base[0].isdigit():
        base = "Block" + base
    if keyword.iskeyword(base) or base in _RESERVED:
        base += "Block"
    out, n = base, 2
    while out in taken:
        out, n = f"{base}{n}", n + 1
    taken.add(out)
    return out


# ---- modules -> constructor calls -----------------------------------------------------
def _int_or_pair(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        v = tuple(int(t) for t in v)
        return v[0] if len(v) == 2 and v[0] == v[1] else v
    return int(v)


def _conv(m: nn.Conv2d) -> Call:
    return _call("nn.Conv2d", m.in_channels, m.out_channels, kernel_size=(_int_or_pair(m.kernel_size), REQUIRED),
                 stride=(_int_or_pair(m.stride), 1), padding=(_int_or_pair(m.padding), 0),
                 dilation=(_int_or_pair(m.dilation), 1), groups=(m.groups, 1), bias=(m.bias is not None, True))


def _bn(m: nn.modules.batchnorm._BatchNorm) -> Call:
    return _call(f"nn.{type(m).__name__}", m.num_features, eps=(m.eps, 1e-5), momentum=(m.momentum, 0.1))


def _ln(m: nn.LayerNorm) -> Call:
    name = "LayerNorm2d" if isinstance(m, archmods.LayerNorm2d) else "nn.LayerNorm"
    return _call(name, int(m.normalized_shape[0]), eps=(m.eps, 1e-5))


def _act(m: nn.Module) -> Call:
    kw = {}
    if hasattr(m, "inplace"):
        kw["inplace"] = (bool(m.inplace), False)
    if isinstance(m, nn.GELU):
        kw["approximate"] = (m.approximate, "none")
    return _call(f"nn.{type(m).__name__}", **kw)


def _maxpool(m: nn.MaxPool2d) -> Call:
    return _call("nn.MaxPool2d", _int_or_pair(m.kernel_size), stride=(_int_or_pair(m.stride), REQUIRED),
                 padding=(_int_or_pair(m.padding), 0), dilation=(_int_or_pair(m.dilation), 1), ceil_mode=(m.ceil_mode, False))


def _avgpool(m: nn.AvgPool2d) -> Call:
    return _call("nn.AvgPool2d", _int_or_pair(m.kernel_size), stride=(_int_or_pair(m.stride), REQUIRED),
                 padding=(_int_or_pair(m.padding), 0), ceil_mode=(m.ceil_mode, False),
                 count_include_pad=(m.count_include_pad, True))


def _mlp(m: archmods.Mlp) -> Call:
    return _call("Mlp", m.fc1.in_features, m.fc1.out_features, m.fc2.out_features, act=(_emit_module(m.act), REQUIRED),
                 bias=(m.fc1.bias is not None, True), channels_first=(m.channels_first, False))


# How each module class the registry builds is written as source. A new op whose `build`
# returns another class adds an entry here or in source_emitters.py (and, for an archdsl
# helper class, a template templates/helpers/NAME.py.j2 named like the class, listed in
# HELPERS).
MODULE_EMITTERS: dict[type, Callable[[nn.Module], Call]] = {
    nn.Conv2d: _conv,
    nn.BatchNorm1d: _bn,
    nn.BatchNorm2d: _bn,
    nn.LayerNorm: _ln,
    archmods.LayerNorm2d: _ln,
    nn.GroupNorm: lambda m: _call("nn.GroupNorm", m.num_groups, m.num_channels, eps=(m.eps, 1e-5)),
    nn.Linear: lambda m: _call("nn.Linear", m.in_features, m.out_features, bias=(m.bias is not None, True)),
    nn.MaxPool2d: _maxpool,
    nn.AvgPool2d: _avgpool,
    nn.Dropout: lambda m: _call("nn.Dropout", p=(float(m.p), 0.5)),
    nn.Identity: lambda m: _call("nn.Identity"),
    nn.Flatten: lambda m: _call("nn.Flatten"),
    archmods.Mlp: _mlp,
    archmods.GlobalPool: lambda m: _call("GlobalPool", m.kind, tokens=(m.tokens, False)),
    archmods.DropPath: lambda m: _call("DropPath", float(m.p)),
}
for _cls, _doc, _inplace in ACTIVATIONS.values():
    MODULE_EMITTERS[_cls] = _act

# archdsl helper classes and functions copied into the generated file when used
# (templates/helpers/NAME.py.j2): name -> what it needs ("F", "math": imports; other
# helpers, listed before it). Written in this order; more are added by source_emitters.py.
HELPERS: dict[str, tuple[str, ...]] = {"LayerNorm2d": ("F",), "Mlp": (), "GlobalPool": (), "DropPath": (), "Stage": ()}


def _helper_closure(used: set[str]) -> list[str]:
    """`used` and the helpers they need, in HELPERS order (dependencies first)."""
    todo, seen = list(used), set()
    while todo:
        h = todo.pop()
        if h in seen or h not in HELPERS:
            continue
        seen.add(h)
        todo += [d for d in HELPERS[h] if d in HELPERS]
    return [h for h in HELPERS if h in seen]


# Emitters that also need the layer's attributes and input shapes (a module that does not
# keep every constructor argument): fn(module, attrs, input shapes) -> Call.
NODE_EMITTERS: dict[type, Callable[[nn.Module, dict, list], Call]] = {}


def _emit_module(m: nn.Module, attrs: dict | None = None, ins: list | None = None) -> Call:
    node_fn = NODE_EMITTERS.get(type(m))
    if node_fn is not None and attrs is not None:
        return node_fn(m, attrs, ins or [])
    fn = MODULE_EMITTERS.get(type(m))
    if fn is None:
        raise NotImplementedError(f"no source emitter for {type(m).__name__}; add one to MODULE_EMITTERS")
    return fn(m)


def _scale_source(node) -> str:
    return "{0} * self.{p}.reshape(1, -1, 1, 1)" if node.attrs.get("image") else "{0} * self.{p}"


# Forward expressions of parameter ops and functional ops: `{0}`, `{1}`.. are the inputs,
# `{p}` the parameter's attribute. Values are written with `_literal`.
FUNCTIONAL_SOURCE: dict[str, Callable[[Any], str]] = {
    "add": lambda n: " + ".join(f"{{{k}}}" for k in range(len(n.inputs))),
    "cat": lambda n: "torch.cat([" + ", ".join(f"{{{k}}}" for k in range(len(n.inputs))) + f"], dim={_literal(int(n.attrs['dim']))})",
    "flatten": lambda n: "torch.flatten({0}, 1)",
    "identity": lambda n: "{0}",
    "tokens": lambda n: "{0}.flatten(2).transpose(1, 2)",
    "grid": lambda n: "{0}.transpose(1, 2).reshape({0}.shape[0], " + ", ".join(_literal(int(v)) for v in n.shape) + ")",
    "layer_scale": _scale_source,
}

# Parameter ops: how the parameter is created.
PARAM_SOURCE: dict[str, Callable[[Any, nn.Parameter], Call]] = {
    "layer_scale": lambda n, p: _call("nn.Parameter", _call("torch.full", Tup((int(p.shape[0]),)), float(n.attrs["init"]))),
}

# Functional ops that may also stand in an `nn.Sequential` (stem, head, down).
AS_MODULE = {"flatten": lambda n: _call("nn.Flatten"), "identity": lambda n: _call("nn.Identity")}


# ---- instances: one group rendered with literal values -------------------------------
@dataclass
class Item:
    name: str
    kind: str  # module | param | chain | child
    value: Any  # Call; for a chain: list[Item]
    span: Span
    shape: tuple | None
    note: str = ""  # what the source-map comment names: the DSL text, or the compiler's op


@dataclass
class Step:
    item: str | None  # attribute called (module, chain, child) or the parameter (param ops)
    expr: str | None  # source template for functional and parameter ops
    inputs: list[int]
    out: int
    shape: tuple
    span: Span
    residual: bool = False
    node: Any = None  # the IR node of a functional step


@dataclass
class Instance:
    path: tuple
    group: Group
    items: list[Item]
    steps: list[Step]
    out: int
    in_shape: tuple
    candidates: dict[str, Any] = field(default_factory=dict)
    call: Call | None = None  # its constructor call, once its class is made
    prev: bool = False  # a two-input cell: value -1 is `prev`, the second input
    cell: bool = False  # a block of a stage of two-input cells (called with x and prev)
    returns: str = "torch.Tensor"  # the forward's return annotation
    aux: list[int] = field(default_factory=list)  # side outputs (`aux:`): values of their aux_out steps
    n_main: int = 0  # steps before the side-output branches (all the output needs)


def _span_text(span: Span) -> str:
    """The DSL text at a span, up to the next space outside brackets: `conv3/s(c, g=32)`."""
    line = span.source_line or ""
    start = span.column - 1
    end, depth = start, 0
    while end < len(line) and (depth > 0 or not line[end].isspace()) and end - start < 60:
        if depth == 0 and line[end] in ")]":  # the bracket closing a branch `[h sep(5, c)]`
            break
        depth += line[end] in "([" and 1 or (-1 if line[end] in ")]" else 0)
        end += 1
    return line[start:end] or line[start: start + max(1, span.length)]


def _source_comment(span: Span, note: str, extra: str = "") -> str:
    return _escape(f"{span} {note}".rstrip(), 70) + extra


def _value_shape(node) -> tuple | None:
    """A value's shape for comments; None for the tuple of maps of `outputs:`."""
    return None if node.op == "outputs" else node.shape


def _returns(node) -> str:
    """The return annotation of a forward that ends at `node`."""
    return "tuple[torch.Tensor, ...]" if node.op == "outputs" else "torch.Tensor"


def _shape_text(shape: tuple | None) -> str:
    return "x".join(str(v) for v in shape) if shape else "scalar"


class _Unsupported(NotImplementedError):
    """A layer the source backend cannot write yet, located at its DSL text."""

    def __init__(self, message: str, span: Span | None):
        super().__init__(message)
        self.span = span


class _Builder:
    def __init__(self, g: Graph):
        self.g = g
        self.members: dict[tuple, set[int]] = {p: set() for p in g.groups}
        for n in g:
            for k in range(len(n.scope) + 1):
                if n.scope[:k] in self.members:
                    self.members[n.scope[:k]].add(n.id)
        self.child_calls: dict[tuple, Call] = {}  # group path -> constructor call (after its class is made)
        # `shared` layers: their home (a stage) -> name -> the module's constructor item
        self.shared: dict[tuple, dict[str, Item]] = {}
        self.prevs: dict[tuple, int] = {}  # two-input stage block -> its `prev` node

    @staticmethod
    def is_stage_block(path: tuple) -> bool:
        return len(path) == 4 and path[0] == "stages" and path[2] == "blocks"

    def sources(self, path: tuple) -> set[int]:
        mine = self.members[path]
        return {s for nid in mine for s in self.g.nodes[nid].inputs if s not in mine}

    def main_input(self, path: tuple) -> int:
        """A stage block's input x: the previous block's output, the `down` output, or the
        stage's input."""
        stage, j = path[:2], path[3]
        if j > 0:
            return self.entry_exit(stage + ("blocks", j - 1))[1]
        if stage + ("down",) in self.g.groups:
            return self.entry_exit(stage + ("down",))[1]
        return self.entry_exit(stage)[0]

    def cell_stage(self, stage: tuple) -> bool:
        """Whether a stage holds two-input cells (a block that reads `prev`)."""
        return any(self.is_stage_block(p) and p[:2] == stage and len(self.sources(p)) > 1 for p in self.g.groups)

    def child_of(self, path: tuple, scope: tuple) -> tuple:
        for k in range(len(path) + 1, len(scope) + 1):
            if scope[:k] in self.g.groups:
                return scope[:k]
        raise RuntimeError(f"no group between {path} and {scope}")  # pragma: no cover

    def entry_exit(self, path: tuple) -> tuple[int, int]:
        mine = self.members[path]
        if path == ():
            entry = self.g.input_id
        else:
            sources = self.sources(path)
            if len(sources) == 2 and self.is_stage_block(path):  # a two-input cell: x and `prev`
                main = self.main_input(path)
                if main in sources:
                    sources.discard(main)
                    self.prevs[path] = sources.pop()
                    sources = {main}
            if len(sources) > 1:
                raise NotImplementedError(f"`{self.g.groups[path].label}` has several inputs outside a stage of two-input cells")
            if len(sources) != 1:  # pragma: no cover - lowering makes groups with an input
                raise RuntimeError(f"group {path} has {len(sources)} inputs")
            entry = sources.pop()
        exits = [nid for nid in mine if nid == self.g.output_id or any(s not in mine for s in self.g.graph.successors(nid))]
        if len(exits) != 1:  # pragma: no cover
            raise RuntimeError(f"group {path} has {len(exits)} outputs")
        return entry, exits[0]

    def shared_use(self, node, path: tuple, items: list[Item], steps: list[Step], ins: list) -> None:
        """A use of a `shared` layer in a stage block: the block holds a `SharedRef` to the
        stage's module (passed to its constructor); the first use makes that module."""
        sh = node.attrs["_shared"]
        home = tuple(sh["home"])
        if home[:1] != ("stages",) or not self.is_stage_block(path) or path[:2] != home:
            raise _Unsupported("a `shared` layer outside the blocks of a stage (or in a nested block)", node.span)
        name = _attr_name(str(sh["name"]), node.span)
        defs = self.shared.setdefault(home, {})
        if name not in defs:
            with torch.device("meta"):
                built = ops.get(node.op).build(node.attrs, ins, node.shape)
            try:
                value = _emit_module(built, node.attrs, ins)
            except NotImplementedError as e:
                raise _Unsupported(str(e), node.span) from None
            defs[name] = Item(name, "module", value, node.span, node.shape, f"shared {name}")
        if not any(it.name == name for it in items):
            items.append(Item(name, "shared", _call("SharedRef", Sym(name)), node.span, node.shape, f"shared {name}"))
        steps.append(Step(name, None, list(node.inputs), node.id, node.shape, node.span))

    def instance(self, path: tuple) -> Instance:
        g = self.g
        mine = self.members[path]
        entry, exit_ = self.entry_exit(path)
        items: list[Item] = []
        steps: list[Step] = []
        subs: dict[str, Item] = {}
        done: set[tuple] = set()
        for nid in g.order:
            if nid not in mine or nid == g.input_id:
                continue
            node = g.nodes[nid]
            if node.scope != path:
                child = self.child_of(path, node.scope)
                if child in done:
                    continue
                done.add(child)
                rel = child[len(path):]
                c_entry, c_exit = self.entry_exit(child)
                name = ".".join(str(p) for p in rel)
                if len(rel) == 1:
                    _attr_name(str(rel[0]), g.groups[child].span)
                items.append(Item(name, "child", self.child_calls.get(child), g.groups[child].span, _value_shape(g.nodes[c_exit]),
                                  _span_text(g.groups[child].span)))
                steps.append(Step(name, None, [c_entry], c_exit, _value_shape(g.nodes[c_exit]), g.groups[child].span))
                continue
            spec = ops.get(node.op)
            ins = [g.nodes[i].shape for i in node.inputs]
            if "_shared" in node.attrs:
                self.shared_use(node, path, items, steps, ins)
                continue
            with torch.device("meta"):
                built = spec.build(node.attrs, ins, node.shape)
            residual = node.op == "add" and bool(node.attrs.get("residual"))
            if built is None:
                if node.op not in FUNCTIONAL_SOURCE:
                    raise _Unsupported(f"no source for functional op `{node.op}`; add it to FUNCTIONAL_SOURCE", node.span)
                steps.append(Step(None, FUNCTIONAL_SOURCE[node.op](node), list(node.inputs), nid, _value_shape(node), node.span, residual, node))
                continue
            name = _attr_name(node.name or "", node.span)
            if isinstance(built, nn.Parameter):
                if node.sub or node.op not in PARAM_SOURCE:
                    raise _Unsupported(f"no source for parameter op `{node.op}`", node.span)
                items.append(Item(name, "param", PARAM_SOURCE[node.op](node, built), node.span, node.shape, node.op))
                steps.append(Step(name, FUNCTIONAL_SOURCE[node.op](node), list(node.inputs), nid, node.shape, node.span))
                continue
            note = _span_text(node.span) if spec.user and not node.sub else f"{node.op} ({'.'.join(map(str, node.sub)) or 'added'})"
            try:
                value = _emit_module(built, node.attrs, ins)
            except NotImplementedError as e:
                raise _Unsupported(str(e), node.span) from None
            item = Item(name, "module", value, node.span, node.shape, note)
            if node.sub:
                if len(node.sub) != 1:
                    raise NotImplementedError("nested containers inside a group")
                sub = _attr_name(str(node.sub[0]), node.span)
                if sub not in subs:
                    subs[sub] = Item(sub, "chain", [], node.span, None, sub)
                    items.append(subs[sub])
                    steps.append(Step(sub, None, list(node.inputs), nid, node.shape, node.span))
                chain = subs[sub]
                last = steps[-1] if steps and steps[-1].item == sub else None
                if chain.value and (last is None or node.inputs != [last.out] or g.graph.out_degree(last.out) != 1):
                    raise NotImplementedError(f"container `{sub}` is not a plain chain")
                chain.value.append(item)
                chain.shape = node.shape
                steps[-1].out, steps[-1].shape = nid, node.shape
                continue
            items.append(item)
            steps.append(Step(name, None, list(node.inputs), nid, node.shape, node.span))
        in_shape = g.nodes[entry].shape
        aux_outs = [st.out for st in steps if st.node is not None and st.node.op == "aux_out"]
        n_main = len(steps)
        if aux_outs:  # side outputs: the steps the output needs first, then the side branches
            if not self.is_stage_block(path):
                raise _Unsupported("a side output (`aux:`) outside the blocks of a stage", g.nodes[aux_outs[0]].span)
            main = nx.ancestors(g.graph, exit_) | {exit_}
            steps = [st for st in steps if st.out in main] + [st for st in steps if st.out not in main]
            n_main = sum(1 for st in steps if st.out in main)
        inst = Instance(path, g.groups[path], items, steps, exit_, in_shape, returns=_returns(g.nodes[exit_]), n_main=n_main)
        # ids relative to the instance: the entry is value 0 (`prev`, a second input: -1)
        ids = {entry: 0}
        if path in self.prevs:
            ids[self.prevs[path]] = -1
            inst.prev = True
        inst.cell = self.is_stage_block(path) and self.cell_stage(path[:2])
        for k, st in enumerate(steps):
            ids[st.out] = k + 1
        for st in steps:
            st.inputs = [ids[i] for i in st.inputs]
            st.out = ids[st.out]
        inst.out = ids[exit_]
        inst.aux = [ids[a] for a in aux_outs]
        if inst.aux:
            inst.returns = "torch.Tensor | tuple[torch.Tensor, ...]"
        cands: dict[str, Any] = {}
        if in_shape:
            cands["in_channels"] = in_shape[0] if len(in_shape) != 2 else in_shape[-1]
        for k, v in (inst.group.info.get("args") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cands[k] = v
        first = path[:2] + ("blocks", 0)
        if inst.group.kind == "down" and first in g.groups:  # `down` runs in the stage: its `c` is the stage's
            c = (g.groups[first].info.get("args") or {}).get("c")
            if isinstance(c, int) and not isinstance(c, bool):
                cands.setdefault("c", c)
        inst.candidates = cands
        return inst


# ---- classes: instances merged ---------------------------------------------------------
def _item_key(it: Item) -> Any:
    if it.kind == "chain":
        return (it.name, it.kind, tuple(_item_key(s) for s in it.value))
    return (it.name, it.kind, _key(it.value))


def _step_key(steps: list[Step], out: int, bypass: set[str]) -> Any:
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


@dataclass
class ClassDef:
    name: str
    template: Instance
    members: list[Instance]
    optional: list[str] = field(default_factory=list)
    params: list[tuple[str, str, Any]] = field(default_factory=list)  # (name, annotation, default)
    leaf_text: dict[tuple[str, int], str | None] = field(default_factory=dict)  # (item path, leaf) -> text
    conditions: dict[str, str] = field(default_factory=dict)  # optional item -> condition
    member_args: list[dict[str, Any]] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)  # block parameter -> argument name
    doc: str = ""


def _compatible(big: Instance, small: Instance) -> set[str] | None:
    """Names of `big`'s items that `small` lacks, if `small` is `big` with those items as
    identities; None when the two cannot share a class."""
    bkeys = [_item_key(i) for i in big.items]
    skeys = [_item_key(i) for i in small.items]
    missing: set[str] = set()
    k = 0
    for bk, it in zip(bkeys, big.items):
        if k < len(skeys) and skeys[k] == bk:
            k += 1
        elif it.kind in ("module", "chain"):
            missing.add(it.name)
        else:
            return None
    if k != len(skeys):
        return None
    for st in big.steps:
        if st.item in missing and len(st.inputs) != 1:
            return None
    if _step_key(big.steps, big.out, missing) != _step_key(small.steps, small.out, set()):
        return None
    return missing


class _Classes:
    def __init__(self) -> None:
        self.taken: set[str] = set()
        self.defs: list[ClassDef] = []

    def make(self, base_name: str, instances: list[Instance], doc: str) -> list[ClassDef]:
        variants: list[tuple[Instance, list[Instance]]] = []
        for inst in instances:
            for k, (tmpl, group) in enumerate(variants):
                if _compatible(tmpl, inst) is not None:
                    group.append(inst)
                    break
                if _compatible(inst, tmpl) is not None and all(_compatible(inst, m) is not None for m in group):
                    variants[k] = (inst, group + [inst])
                    break
            else:
                variants.append((inst, [inst]))
        out = []
        for tmpl, group in variants:
            cd = ClassDef(_class_name(base_name, self.taken), tmpl, group, doc=doc)
            self._arguments(cd)
            self.defs.append(cd)
            out.append(cd)
        return out

    def _arguments(self, cd: ClassDef) -> None:
        t = cd.template
        members = cd.members
        missing = [(_compatible(t, m) or set()) for m in members]
        cd.optional = [it.name for it in t.items if any(it.name in ms for ms in missing)]
        order = [n for n in t.candidates if n != "in_channels"] + [n for n in t.candidates if n == "in_channels"]
        used: dict[str, bool] = {}
        extra: list[tuple[str, list[Any], bool]] = []  # (name, values per member, optional)
        taken = set(order)
        per_member: list[dict[str, Any]] = [{} for _ in members]

        def item_values(m: Instance, name: str) -> Item | None:
            for it in m.items:
                if it.name == name:
                    return it
            return None

        def flat(it: Item) -> list[tuple[str, Any]]:
            if it.kind == "chain":
                return [(f"{it.name}.{s.name}", s.value) for s in it.value]
            return [(it.name, it.value)]

        arg_names: dict[str, str] = {}
        for it in t.items:
            optional = it.name in cd.optional
            own_args: list[str] = []
            for path, value in flat(it):
                defaults = _defaults(value)
                nleaves = len(_leaves(value))
                for leaf in range(nleaves):
                    vec = []
                    for m in members:
                        mi = item_values(m, it.name)
                        if mi is None:
                            vec.append(_ABSENT)
                            continue
                        mv = dict(flat(mi))[path]
                        vec.append(_leaves(mv)[leaf])
                    present = [v for v in vec if v is not _ABSENT]
                    if all(_same(v, present[0]) for v in present):
                        d = defaults[leaf]
                        cd.leaf_text[(path, leaf)] = None if d is not REQUIRED and _same(present[0], d) else _literal(present[0])
                        continue
                    text = self._match(vec, members, order)
                    if text is not None:
                        for name in order:
                            if re.search(rf"\b{re.escape(name)}\b", text):
                                used[name] = True
                        cd.leaf_text[(path, leaf)] = text
                        continue
                    base = path.replace(".", "_")
                    kw = _leaf_keywords(value)[leaf]
                    if kw is not None:  # a keyword argument names it: `attn_shift`
                        nm = _arg_name(f"{base}_{kw}", taken)
                    else:
                        nm = _arg_name(base if base not in taken else f"{base}_{leaf}", taken)
                    extra.append((nm, vec, optional))
                    own_args.append(nm)
                    cd.leaf_text[(path, leaf)] = nm
            if optional:
                if own_args:
                    cd.conditions[it.name] = f"{own_args[0]} is not None"
                else:
                    flag = _arg_name(it.name, taken)
                    cd.conditions[it.name] = flag
                    extra.append((flag, [it.name not in ms for ms in missing], None))
        # signature: in_channels and block parameters, then free values, then optional ones
        names = [n for n in t.candidates if used.get(n)]  # in_channels first, then the block's own
        for n in names:
            safe = _arg_name(n, {p[0] for p in cd.params})
            if safe != n:  # user parameter names that are not safe Python: rename in every use
                for key, text in cd.leaf_text.items():
                    if text is not None:
                        cd.leaf_text[key] = re.sub(rf"\b{re.escape(n)}\b", safe, text)
            arg_names[n] = safe
            cd.params.append((safe, _annotation(members[0].candidates[n]), REQUIRED))
            for pm, m in zip(per_member, members):
                pm[safe] = m.candidates[n]
        for it in t.items:  # the stage's `shared` layers this block calls
            if it.kind == "shared":
                nm = _arg_name(it.name, taken | {p[0] for p in cd.params})
                cd.leaf_text[(it.name, 0)] = nm
                cd.params.append((nm, "nn.Module", REQUIRED))
                for pm in per_member:
                    pm[nm] = Sym(f"shared.{it.name}")
        for nm, vec, optional in sorted(extra, key=lambda e: e[2] is not False):
            if optional is None:  # a flag
                cd.params.append((nm, "bool", False))
            elif optional:
                present = [v for v in vec if v is not _ABSENT]
                cd.params.append((nm, _annotation(present[0]) + " | None", None))
            else:
                cd.params.append((nm, _annotation(vec[0]), REQUIRED))
            for pm, v in zip(per_member, vec):
                pm[nm] = None if v is _ABSENT else v
        cd.member_args = per_member
        cd.renamed = arg_names
        for m, pm in zip(members, per_member):
            m.call = self.call(cd, pm)

    @staticmethod
    def call(cd: ClassDef, values: dict[str, Any]) -> Call:
        args = []
        for name, _, default in cd.params:
            args.append((None if default is REQUIRED else name, values[name], default))
        return Call(cd.name, tuple(args))

    @staticmethod
    def _match(vec: list[Any], members: list[Instance], order: list[str]) -> str | None:
        pairs = [(v, m) for v, m in zip(vec, members) if v is not _ABSENT]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v, _ in pairs):
            return None
        for name in order:
            cv = [m.candidates.get(name) for _, m in pairs]
            if any(c is None for c in cv):
                continue
            if all(_same(v, c) for (v, _), c in zip(pairs, cv)):
                return name
        for name in order:
            cv = [m.candidates.get(name) for _, m in pairs]
            if any(not isinstance(c, int) for c in cv):
                continue
            for k in range(2, 9):
                if all(isinstance(v, int) and v == k * c for (v, _), c in zip(pairs, cv)):
                    return f"{k} * {name}"
        return None


_ABSENT = object()


def _annotation(v: Any) -> str:
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    return "object"


# ---- layout ---------------------------------------------------------------------------
def layout(indent: int, head: str, args: list[str] | None, tail: str = "", comment: str | None = None,
           brackets: str = "()", separator: str = ",") -> list[str]:
    """One statement `head(args)tail  # comment`, split the way ruff's formatter does: on
    one line if it fits; else the arguments on one indented line; else one argument per
    line with a trailing comma (a sole argument: split inside it, no comma), each argument
    split the same way where it is still too long. `separator=""`: the parts of a
    comprehension (`expr`, `for k in range(n)`), which get no commas."""
    pad = " " * indent
    c = f"  # {comment}" if comment else ""
    op, cl = brackets
    joiner = f"{separator} " if separator else " "
    one = f"{pad}{head}{tail}" if args is None else f"{pad}{head}{op}{joiner.join(args)}{cl}{tail}"
    location = re.match(r"(\S+:\d+:\d+) \S", comment or "")
    if args and location and len(one) + len(c) > LINE_WIDTH >= len(one) + 4 + len(location.group(1)):
        # a call that fits but for its source-map comment keeps its one line and the
        # location; the DSL text after it goes (ruff would split the call instead)
        return [f"{one}  # {location.group(1)}"]
    if args is None or not args or len(one) + len(c) <= LINE_WIDTH:
        # a statement that fits but for its comment: shorten the comment (its location comes
        # first), since ruff would wrap the statement in parentheses instead
        room = LINE_WIDTH - len(one) - 4
        if comment and len(one) + len(c) > LINE_WIDTH and room >= 12:
            c = f"  # {comment[: room - 3].rstrip()}..."
        return [one + c]
    room = LINE_WIDTH - len(f"{pad}{head}{op}  # ")
    if comment and len(comment) > room >= 20:  # an over-long first line makes ruff re-wrap it
        comment = comment[: room - 3].rstrip() + "..."
        c = f"  # {comment}"
    body = joiner.join(args)
    first, last = f"{pad}{head}{op}{c}", f"{pad}{cl}{tail}"
    # a list or tuple display (not a call's or subscript's brackets) with several items is
    # never packed onto one indented line: ruff puts one item per line
    display = not (head[-1:].isalnum() or head[-1:] in ("_", ")", "]"))
    if len(pad) + 4 + len(body) <= LINE_WIDTH and not (display and separator and len(args) > 1):
        return [first, f"{pad}    {body}", last]
    if len(args) == 1 or not separator:
        inner = [line for a in args for line in split_expr(indent + 4, a, "")]
    else:
        inner = [line for a in args for line in split_expr(indent + 4, a, separator)]
    return [first] + inner + [last]


def _top_level_parts(inner: str, sep: str = ",") -> list[str]:
    """`a, g(b, c), d` -> ["a", "g(b, c)", "d"] (commas inside brackets stay)."""
    parts, depth, cur = [], 0, ""
    for ch in inner:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def _split_last_bracket(text: str) -> tuple[str, str, str] | None:
    """`head(inner)` for the bracket pair that closes at the end of `text`: (head, brackets, inner)."""
    if not text or text[-1] not in ")]":
        return None
    depth = 0
    for k in range(len(text) - 1, -1, -1):
        ch = text[k]
        if ch in ")]}":
            depth += 1
        elif ch in "([{":
            depth -= 1
            if depth == 0:
                return text[:k], text[k] + text[-1], text[k + 1: -1]
    return None


def _comprehension_parts(inner: str) -> list[str] | None:
    """`expr for k in range(n)` -> ["expr", "for k in range(n)"]; None if not one."""
    depth = 0
    for k, ch in enumerate(inner):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and inner.startswith(" for ", k):
            return [inner[:k], inner[k + 1:]]
    return None


def split_expr(indent: int, expr: str, tail: str = "", head: str = "", comment: str | None = None) -> list[str]:
    """`head + expr + tail` at `indent`, split at the brackets that close it (right-hand
    split, as ruff does) where it is too long."""
    parts = _split_last_bracket(expr)
    if parts is None:
        return layout(indent, head + expr, None, tail, comment)
    pre, brackets, inner = parts
    comp = _comprehension_parts(inner) if brackets == "[]" else None
    if comp is not None:
        return layout(indent, head + pre, comp, tail, comment, brackets, separator="")
    args = _top_level_parts(inner)
    if brackets == "()" and len(args) == 1 and inner.rstrip().endswith(","):
        args = [args[0] + ","]  # a one-element tuple keeps its comma
    return layout(indent, head + pre, args, tail, comment, brackets)


def assign(indent: int, target: str, expr: str, comment: str | None = None) -> list[str]:
    return split_expr(indent, expr, "", f"{target} = ", comment)


# ---- rendering -------------------------------------------------------------------------
class _Renderer:
    def __init__(self, g: Graph):
        self.g = g
        self.b = _Builder(g)
        self.classes = _Classes()
        self.helpers: set[str] = set()
        self.instances: dict[tuple, Instance] = {}
        self.aux_stages = False  # some stage returns side outputs (`aux:`) in training mode

    def note_helpers(self, text: str) -> None:
        for h in HELPERS:
            if re.search(rf"(?<![\w.]){h}\(", text):
                self.helpers.add(h)

    # which groups are classes, which are inline nn.Sequential
    def chainable(self, inst: Instance) -> bool:
        for k, st in enumerate(inst.steps):
            if st.inputs != [k] or st.out != k + 1:
                return False
            if st.expr is not None:
                return False
        return all(it.kind in ("module", "child") for it in inst.items) and inst.out == len(inst.steps)

    def run(self) -> str:
        g = self.g
        paths = sorted((p for p in g.groups if p != () and g.groups[p].kind != "stage"), key=len, reverse=True)
        # deeper groups first: a class's constructor call is needed by its parent's render
        by_depth: dict[int, list[tuple]] = {}
        for p in paths:
            by_depth.setdefault(len(p), []).append(p)
        self.seq: dict[tuple, Instance] = {}
        position = {nid: k for k, nid in enumerate(g.order)}
        order_pos = {p: min((position[n] for n in self.b.members[p]), default=0) for p in paths}
        for depth in sorted(by_depth, reverse=True):
            keyed: dict[Any, list[Instance]] = {}
            names: dict[Any, tuple[str, str]] = {}
            for p in sorted(by_depth[depth], key=lambda p: order_pos[p]):
                inst = self.b.instance(p)
                self.instances[p] = inst
                grp = g.groups[p]
                if grp.kind in ("stem", "head", "down") and self.chainable(self.fix_functional(inst)):
                    self.seq[p] = inst
                    continue
                if grp.kind in ("block", "call") and not grp.info.get("inline"):
                    key = ("block", grp.label)
                    ds = grp.info.get("def_span")
                    doc = f"Block `{grp.label}`" + (f", defined at {ds}." if ds else ".")
                    names[key] = (grp.label, doc)
                elif grp.info.get("inline"):
                    key = ("inline", str(grp.span))
                    names[key] = (f"{g.name}_block", f"Stage block `{_span_text(grp.span)}`, from {grp.span}.")
                else:
                    key = (grp.kind,)
                    names[key] = (grp.kind, f"The `{grp.kind}` line, from {grp.span}.")
                keyed.setdefault(key, []).append(inst)
            for key, insts in keyed.items():
                base, doc = names[key]
                self.classes.make(base, insts, doc)
                for inst in insts:
                    self.b.child_calls[inst.path] = inst.call
        net = self.b.instance(())
        return self.module(net)

    def fix_functional(self, inst: Instance) -> Instance:
        """In a stem/head/down chain, functional ops with a module form (flatten,
        identity) become modules, so the group can be an `nn.Sequential`."""
        fn_steps = [st for st in inst.steps if st.item is None]
        if not fn_steps or any(st.node is None or st.node.op not in AS_MODULE for st in fn_steps):
            return inst
        names = {it.name for it in inst.items}
        for st in fn_steps:
            name, k = st.node.op, 2
            while name in names:
                name, k = f"{st.node.op}{k}", k + 1
            names.add(name)
            pos = sum(1 for s in inst.steps[: inst.steps.index(st)] if s.item is not None)
            inst.items.insert(pos, Item(name, "module", AS_MODULE[st.node.op](st.node), st.span, st.shape))
            st.item, st.expr = name, None
        return inst

    # ---- class bodies ----
    def class_lines(self, cd: ClassDef) -> list[str]:
        t = cd.template
        lines: list[str] = []
        sig = ["self"]
        for name, ann, default in cd.params:
            sig.append(f"{name}: {ann}" if default is REQUIRED else f"{name}: {ann} = {_literal(default)}")
        lines += layout(4, "def __init__", sig, " -> None:")
        lines.append("        super().__init__()")

        def leaf_fn(path: str) -> Callable[[int, Any], str | None]:
            return lambda k, v: cd.leaf_text.get((path, k), _literal(v) if v is not None else "None")

        for it in t.items:
            ind = 8
            if it.name in cd.optional:
                lines.append(f"        self.{it.name} = {'nn.Sequential()' if it.kind == 'chain' else 'nn.Identity()'}")
                lines.append(f"        if {cd.conditions[it.name]}:")
                ind = 12
            if it.kind == "chain":
                if it.name not in cd.optional:
                    lines.append(f"{' ' * ind}self.{it.name} = nn.Sequential()")
                for s in it.value:
                    expr = _render(s.value, leaf_fn(f"{it.name}.{s.name}"), [0])
                    self.note_helpers(expr)
                    lines += assign(ind, f"self.{it.name}.{s.name}", expr, self.src(s))
                continue
            expr = _render(it.value, leaf_fn(it.name), [0])
            self.note_helpers(expr)
            lines += assign(ind, f"self.{it.name}", expr, self.src(it))
        lines.append("")
        sig = ["self", "x: torch.Tensor"]
        if t.prev:
            sig.append("prev: torch.Tensor")
        elif any(m.cell for m in cd.members):  # called as a cell, with `prev` it does not read
            sig.append("prev: torch.Tensor | None = None")
        lines += layout(4, "def forward", sig, f" -> {t.returns}:")
        lines += self.forward_lines(t, lambda k: self.sym_shape(cd, k))
        return lines

    def src(self, it: Item) -> str:
        return _source_comment(it.span, it.note)

    def sym_shape(self, cd: ClassDef, step: int) -> str:
        """A step's output shape across the class's instances: numbers where they agree,
        an argument expression (`4*c`) where one matches, else a letter (C, H, W)."""
        members = [m for m in cd.members if len(m.steps) == len(cd.template.steps)]
        shapes = [m.steps[step].shape for m in members]
        if not shapes or any(s is None or len(s) != len(shapes[0]) for s in shapes):
            return ""
        letters = {3: "CHW", 2: "LC", 1: "C"}.get(len(shapes[0]), "?" * len(shapes[0]))
        dims = []
        for d in range(len(shapes[0])):
            vals = [s[d] for s in shapes]
            if all(v == vals[0] for v in vals):
                dims.append(str(vals[0]))
                continue
            text = _Classes._match(vals, members, [n for n in members[0].candidates if n in cd.renamed])
            if text is None:
                dims.append(letters[d])
                continue
            for n, safe in cd.renamed.items():
                text = re.sub(rf"\b{re.escape(n)}\b", safe, text)
            dims.append(text.replace(" ", ""))
        if all(d.isdigit() for d in dims):
            return "x".join(dims)
        return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


    def forward_lines(self, inst: Instance, shape_of: Callable[[int], str], indent: int = 8) -> list[str]:
        pad = " " * indent
        steps = inst.steps
        readers: dict[int, list[int]] = {}
        for k, st in enumerate(steps):
            for i in st.inputs:
                readers.setdefault(i, []).append(k)
        var: dict[int, str] = {0: "x", -1: "prev"}  # value -> variable holding it
        live: dict[str, int] = {"x": 0, "prev": -1} if inst.prev else {"x": 0}
        pending: dict[int, str] = {}  # value -> inline expression
        lines: list[str] = []
        counter = [0]

        def use(v: int) -> str:
            if v in pending:
                return pending.pop(v)
            return var[v]

        def still_needed(v: int, after: int) -> bool:
            return any(r > after for r in readers.get(v, [])) or (v == inst.out or v in aux_names) and after < len(steps)

        # side outputs (`aux:`): named values, returned after the output in training mode
        aux_names = {v: "aux" if len(inst.aux) == 1 else f"aux{n + 1}" for n, v in enumerate(inst.aux)}
        for k, st in enumerate(steps):
            if aux_names and k == inst.n_main:
                lines.append(f"{pad}if not self.training:  # side outputs in training mode only")
                lines.append(f"{pad}    return {var[inst.out]}")
            args = [use(i) for i in st.inputs]
            if st.expr is None:
                expr = f"self.{st.item}({args[0]})" if len(args) == 1 else f"self.{st.item}({', '.join(args)})"
            else:
                expr = _substitute(st.expr, args).replace("{p}", st.item or "")
            out = k + 1
            if out in aux_names:
                lines += assign(indent, aux_names[out], expr, shape_of(k) or None)
                var[out] = aux_names[out]
                live[aux_names[out]] = out
                continue
            rd = readers.get(out, [])
            nxt = steps[k + 1] if k + 1 < len(steps) else None
            if (rd == [k + 1] and nxt.item is None and out != inst.out
                    and nxt.expr.count(f"{{{nxt.inputs.index(out)}}}") == 1):
                pending[out] = expr  # read once, by the merge right after: write it inside
                continue
            # save a value still needed later before `x` is overwritten
            held = live.get("x")
            if held is not None and still_needed(held, k):
                if held == inst.out and "out" not in live:  # the output, kept while side outputs are computed
                    name = "out"
                else:
                    name = "shortcut" if "shortcut" not in live and all(steps[r].residual or steps[r].item == "shortcut" for r in readers[held] if r > k) else None
                if name is None:
                    counter[0] += 1
                    name = f"x{counter[0]}"
                    while name in live:
                        counter[0] += 1
                        name = f"x{counter[0]}"
                lines.append(f"{pad}{name} = x")
                var[held] = name
                live[name] = held
            for v, nm in list(var.items()):  # free names of dead values
                if nm != "x" and nm in live and live[nm] == v and not still_needed(v, k):
                    del live[nm]
            shape = shape_of(k)
            lines += assign(indent, "x", expr, shape or None)
            var[out] = "x"
            live["x"] = out
        result = use(inst.out) if inst.out in pending else var[inst.out]
        lines.append(f"{pad}return {', '.join([result, *aux_names.values()])}")
        return lines

    # ---- the network ----
    def module(self, net: Instance) -> str:
        g = self.g
        net_cls = _class_name(g.name, self.classes.taken | {cd.name for cd in self.classes.defs})
        init: list[str] = []
        fwd_steps: list[tuple[str, str, str]] = []  # (statement kind, attr, comment)
        tables: dict[str, list[Any]] = {}
        stage_paths = sorted([p for p in g.groups if g.groups[p].kind == "stage"], key=lambda p: p[1])
        stage_lines: list[str] = []
        for p in stage_paths:
            stage_lines += self.stage_lines(p, tables)
        stages_done = False
        for it, st in zip(net.items, net.steps):
            if it.name.startswith("stages."):
                if not stages_done:
                    stages_done = True
                    for tname, vals in tables.items():
                        init += layout(8, f"{tname} = ", [_literal(v) for v in vals], "", None, "[]")
                    init.append("        self.stages = nn.ModuleList()")
                    init += stage_lines
                    fwd_steps.append(("stages", "", ""))
                continue
            path = (it.name,)
            init += self.part_lines(path, f"self.{it.name}", 8)
            fwd_steps.append(("call", it.name, self.value_text(st.out if st.shape is None else None, st.shape)))
        fwd = []
        for kind, attr, comment in fwd_steps:
            if kind == "stages" and self.aux_stages:
                fwd.append("        aux: list[torch.Tensor] = []")
                fwd.append("        for stage in self.stages:")
                fwd.append("            x = stage(x)")
                fwd.append("            if isinstance(x, tuple):  # training mode: side outputs (`aux:`)")
                fwd.append("                x, *more = x")
                fwd.append("                aux += more")
            elif kind == "stages":
                fwd.append("        for stage in self.stages:")
                fwd.append("            x = stage(x)")
            else:
                fwd += assign(8, "x", f"self.{attr}(x)", comment)
        fwd.append("        return (x, *aux) if aux else x" if self.aux_stages else "        return x")
        for text in init:
            self.note_helpers(text)
        classes = [(cd.name, _escape(cd.doc), self.class_lines(cd)) for cd in self.classes.defs]
        body = "\n".join([line for _, _, lines in classes for line in lines] + init + fwd)
        self.note_helpers(body)  # forward code calls helper functions too
        helpers = _helper_closure(self.helpers)
        needs_f = any("F" in HELPERS[h] for h in helpers) or re.search(r"\bF\.", body) is not None
        needs_math = any("math" in HELPERS[h] for h in helpers) or re.search(r"\bmath\.", body) is not None
        variant = g.variant
        params = ", ".join(f"{k}={_format_param(v)}" for k, v in g.params.items())
        header = [f"{_escape(g.name)}" + (f" (variant `{_escape(variant)}`)" if variant else "") + ", generated by archdsl.",
                  "",
                  f"Source: {_escape(g.source_file)}" + (f", variant {_escape(variant)}." if variant else "."),
                  f"Input: {_shape_text(g.input_shape)}; output: {_shape_text(g.nodes[g.output_id].shape)}.",
                  f"Parameters: {_escape(params, 400)}"]
        env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(_TEMPLATES)), autoescape=False,
                                 keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                                 undefined=jinja2.StrictUndefined)
        text = env.get_template("module.py.j2").render(
            header=_wrap_doc(header), helpers=helpers, needs_f=needs_f, needs_math=needs_math,
            classes=classes, net_name=net_cls, net_doc=_escape(f"{g.name} network" + (f", variant {variant}" if variant else "")),
            net_init=init, net_forward=fwd, in_shape=_shape_text(g.input_shape),
            net_returns="torch.Tensor | tuple[torch.Tensor, ...]" if self.aux_stages else _returns(g.nodes[g.output_id]),
        )
        return text

    def value_text(self, out: int | None, shape: tuple | None) -> str:
        """A shape comment; for the tuple of `outputs:` (net value `out`), its maps' shapes."""
        if shape is not None:
            return _shape_text(shape)
        node = self.g.nodes[self.g.output_id]
        if out is None or node.op != "outputs":
            return ""
        return "(" + ", ".join(_shape_text(self.g.nodes[i].shape) for i in node.inputs) + ")"

    def part_lines(self, path: tuple, target: str, indent: int) -> list[str]:
        """Constructor lines for a stem/head/down group: an nn.Sequential or a class call."""
        g = self.g
        grp = g.groups[path]
        pad = " " * indent
        if path in self.seq:
            inst = self.seq[path]
            lines = [f"{pad}# {grp.kind}: {_shape_text(inst.in_shape)} -> {_shape_text(g.nodes[self.b.entry_exit(path)[1]].shape)}",
                     f"{pad}{target} = nn.Sequential()"]
            for it in inst.items:
                expr = render_plain(it.value)
                comment = _source_comment(it.span, it.note, f" -> {_shape_text(it.shape)}")
                with_shape = assign(indent, f"{target}.{it.name}", expr, comment)
                full = len(with_shape) == 1 and with_shape[0].endswith(comment)
                lines += with_shape if full else assign(indent, f"{target}.{it.name}", expr, _source_comment(it.span, it.note))
            return lines
        call = self.b.child_calls[path]
        return assign(indent, target, render_plain(call), _source_comment(grp.span, _span_text(grp.span)))

    def stage_lines(self, path: tuple, tables: dict[str, list[Any]]) -> list[str]:
        g = self.g
        i = path[1]
        blocks = sorted((p for p in g.groups if len(p) == 4 and p[:2] == path and p[2] == "blocks"), key=lambda p: p[3])
        out_shape = g.nodes[self.b.entry_exit(path)[1]].shape
        calls = [self.b.child_calls[p] for p in blocks]
        names = sorted({c.func for c in calls})
        what = f"{len(blocks)} x {names[0]}" if len(names) == 1 else f"{len(blocks)} blocks ({', '.join(names)})"
        lines = [f"        # stage {i}: {what} -> {_shape_text(out_shape)}"]
        down = path + ("down",)
        has_down = down in g.groups
        if has_down:
            lines += self.part_lines(down, "down", 8)
        shared = self.b.shared.get(path, {})
        if shared:  # one module per `shared` layer, owned by the stage, passed to every block
            lines.append("        shared = nn.Module()")
            for name, it in shared.items():
                lines += assign(8, f"shared.{name}", render_plain(it.value), self.src(it))
        lines += self.block_list(blocks, calls, tables)
        tail = ", down" if has_down else ""
        cells = self.b.cell_stage(path)
        aux = any(self.instances[p].aux for p in blocks)
        if bool(shared) + cells + aux > 1:
            raise _Unsupported("a stage that combines two-input cells, `shared` layers and side outputs", g.groups[path].span)
        if aux:
            self.aux_stages = True
            lines.append(f"        self.stages.append(AuxStage(blocks{tail}))")
        elif cells:
            keep = self.keep_prev(path, blocks)
            marked = tuple(k for k, v in enumerate(keep) if v)
            lines.append("        # after a cell marked here, the next cell's prev is that cell's own prev")
            if not marked:
                lines.append(f"        keep_prev = [False] * {len(keep)}")
            else:
                lines += self.comprehension("keep_prev = ", f"k in {_literal(marked)}", "k", f"range({len(keep)})")
            lines.append(f"        self.stages.append(CellStage(blocks, keep_prev{tail}))")
        elif shared:
            lines.append(f"        self.stages.append(SharedStage(blocks, shared{tail}))")
        else:
            lines.append(f"        self.stages.append(Stage(blocks{tail}))")
        return lines

    def keep_prev(self, stage: tuple, blocks: list[tuple]) -> list[bool]:
        """Per cell of a stage of two-input cells: whether the next cell's `prev` is this
        cell's own prev (NASNet's keep_prev) rather than this cell's input. Read from the
        graph: which value each cell's `prev` is."""
        keep = [False] * len(blocks)
        mains = [self.b.main_input(p) for p in blocks]
        prevs: list[int | None] = []
        for j, p in enumerate(blocks):
            prev = self.b.prevs.get(p)
            if prev is None and len(self.b.sources(p)) == 1:
                prev = mains[j] if j == 0 else None  # the first cell: its own input twice
            if j > 0 and prev is not None:
                if prev == mains[j - 1]:
                    keep[j - 1] = False
                elif prevs[j - 1] is not None and prev == prevs[j - 1]:
                    keep[j - 1] = True
                else:
                    raise _Unsupported("a cell whose `prev` is neither the previous cell's input nor its prev",
                                       self.g.groups[p].span)
            if j == 0 and prev is not None and prev != mains[0]:  # pragma: no cover - lowering makes it the input
                raise _Unsupported("the first cell's `prev` is not its input", self.g.groups[p].span)
            prevs.append(prev if prev is not None else (mains[j] if j == 0 else None))
        return keep

    def block_list(self, blocks: list[tuple], calls: list[Call], tables: dict[str, list[Any]]) -> list[str]:
        g = self.g
        n = len(calls)
        if n == 0:
            return ["        blocks = []"]
        if any(c.func != calls[0].func for c in calls):
            lines = ["        blocks = []"]
            for c in calls:
                lines += layout(8, "blocks.append", [render_plain(c)])
            return lines
        nargs = len(calls[0].args)
        index = [g.groups[p].info.get("block_index") for p in blocks]
        table_args = set()
        for a in range(nargs):
            rest = [c.args[a][1] for c in calls[1:]]
            if rest and not all(_same(v, rest[0]) for v in rest) and None not in index:
                table_args.add(a)
        params = next((cd.params for cd in self.classes.defs if cd.name == calls[0].func), [])
        table_names: dict[int, str] = {}
        for a in table_args:
            name = calls[0].args[a][0] or (params[a][0] if a < len(params) else f"arg{a}")
            tname = table_names[a] = f"{name}_by_block"
            table = tables.setdefault(tname, [])
            for c, k in zip(calls, index):
                while len(table) <= k:
                    table.append(None)
                table[k] = c.args[a][1]

        def render(c: Call) -> str:
            args = []
            for a, (kw, v, d) in enumerate(c.args):
                if a in table_args:
                    v = Sym(f"{table_names[a]}[k]")
                elif d is not REQUIRED and _same(v, d):
                    continue
                args.append((kw, v, REQUIRED))
            return render_plain(Call(c.func, tuple(args)))

        def same(a: Call, b: Call) -> bool:
            return all(k in table_args or _same(x[1], y[1]) for k, (x, y) in enumerate(zip(a.args, b.args)))

        var = "k" if table_args else "_"
        first = index[0] if table_args else 0
        if all(same(calls[0], c) for c in calls):
            rng = f"range({first}, {first + n})" if table_args and first else f"range({n})"
            return self.comprehension("blocks = ", render(calls[0]), var, rng)
        lines = []
        head = render(calls[0]).replace("[k]", f"[{first}]")
        lines += layout(8, "blocks = ", [head], "", None, "[]")
        if n == 2:
            lines += layout(8, "blocks.append", [render(calls[1]).replace("[k]", f"[{first + 1}]")])
        elif n > 2:
            rng = f"range({first + 1}, {first + n})" if table_args else f"range({n - 1})"
            lines += self.comprehension("blocks += ", render(calls[1]), var, rng)
        return lines

    @staticmethod
    def comprehension(head: str, expr: str, var: str, rng: str) -> list[str]:
        return split_expr(8, f"[{expr} for {var} in {rng}]", "", head)


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "@": 2, "%": 2}


def _top_level_precedence(expr: str) -> int:
    """The loosest binary operator outside brackets (3: none, the expression is atomic)."""
    depth, low = 0, 3
    for k, ch in enumerate(expr):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch == " ":
            op = expr[k + 1: k + 2]
            if op in _PRECEDENCE and expr[k + 2: k + 3] == " ":
                low = min(low, _PRECEDENCE[op])
            elif op and not op.isspace() and expr[k - 1] not in _PRECEDENCE:
                low = 0  # anything else at top level (a conditional, a comparison): always wrap
    return low


def _substitute(template: str, args: list[str]) -> str:
    """Put the input expressions into a forward template (`{0}`, `{1}`), wrapping one in
    parentheses where the template's operators would otherwise regroup it."""
    out = template
    for j, a in enumerate(args):
        ph = f"{{{j}}}"
        pieces = out.split(ph)
        if len(pieces) == 1:
            continue
        prec = _top_level_precedence(a)
        text = pieces[0]
        for right in pieces[1:]:
            left_ctx, right_ctx = text.rstrip(), right.lstrip()
            lch, rch = left_ctx[-1:] if left_ctx else "", right_ctx[:1]
            wrap = False
            if prec < 3:
                need = 0
                if lch in _PRECEDENCE:
                    need = max(need, _PRECEDENCE[lch] + 1)  # right operand: a tie regroups
                elif lch not in ("", "(", "[", ","):
                    need = 4
                if rch in _PRECEDENCE:
                    need = max(need, _PRECEDENCE[rch])
                elif rch not in ("", ")", "]", ","):
                    need = 4  # `.attr`, `[index]` bind tighter than any operator
                wrap = prec < need
            text += (f"({a})" if wrap else a) + right
        out = text
    return out


def _format_param(v: Any) -> str:
    from archdsl.ir.values import format_value

    return format_value(v)


def _wrap_doc(lines: list[str]) -> list[str]:
    """Wrap docstring lines at spaces to stay within the line width (long words stay whole)."""
    out = []
    for line in lines:
        while len(line) > 84:
            cut = line.rfind(" ", 5, 84)
            if cut < 0:
                cut = line.find(" ", 84)
            if cut < 0:
                break
            out.append(line[:cut].rstrip())
            line = "    " + line[cut + 1:].lstrip()
        out.append(line)
    return out


# ---- entry points ---------------------------------------------------------------------
def generate_source(g: Graph) -> str:
    """The Python source of the network `g` (a checked IR graph)."""
    try:
        return _Renderer(g).run()
    except NotImplementedError as e:  # a layer kind without a source emitter yet
        raise ArchError(f"cannot write this network as standalone PyTorch source: {e}", getattr(e, "span", None),
                        "`archdsl.build` still builds it; source emitters live in archdsl/backends/torch_source.py") from None


from archdsl.fileio import write_atomic  # noqa: E402,F401 - re-exported: one atomic writer (archdsl/fileio.py)


from archdsl.backends import source_emitters  # noqa: F401  (registers the attention/token emitters)
