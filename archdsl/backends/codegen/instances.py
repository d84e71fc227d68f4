"""IR groups -> instances: one group (a stage block, a nested block call, the stem, ...) as
the layers its constructor makes (`Item`s, each a `Call` from the op registry) and the
data flow its forward runs (`Step`s).

Shapes are propagated a second time here, symbolically: the group's input width is the
symbol `in_channels` (or the block's own `cin` parameter) and its parameters are symbols
already (the lowering binds them so), so every constructor argument carries the
expression it came from (`4 * c`), which `classes.py` prints where it can.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


from archdsl import ops
from archdsl.backends.codegen import channels_last
from archdsl.backends.codegen.names import attr_name, escape, is_plain_identifier

# names a forward keeps for itself: a layer body's value of one of these names gets a generated one
RESERVED_VARS = {"self", "x", "prev", "shortcut", "out", "aux", "torch", "nn", "F", "math", "pre_logits"}
from archdsl.backends.codegen.values import Call, Raw
from archdsl.errors import Span
from archdsl.ir import sym
from archdsl.ir.graph import Graph, Group
from archdsl.ops.code import call
from archdsl.ops.registry import ShapeError


class Unsupported(Exception):
    """A network the source backend cannot write, located at its DSL text."""

    def __init__(self, message: str, span: Span | None):
        super().__init__(message)
        self.span = span


@dataclass
class Item:
    name: str
    kind: str  # module | param | chain | child | shared
    value: Any  # Call; for a chain: list[Item]
    span: Span
    shape: tuple | None
    note: str = ""  # what the source-map comment names: the DSL text, or the compiler's op
    op: str | None = None  # the op of a module / param item
    identity: Call | None = None  # this layer computing the identity (OpSpec.identity_at), if it can
    channels_last: Any = None  # its constructor (module) or forward template (param) on a channels-last map, if it has one


@dataclass
class Step:
    item: str | None  # attribute called (module, chain, child) or the parameter (param ops)
    expr: str | None  # forward template (functional and parameter ops), over x / x0, x1, ... and p
    inputs: list[int]
    out: int
    shape: tuple | None
    span: Span
    residual: bool = False
    node: Any = None  # the IR node of a functional step
    sym_shape: tuple | None = None  # the shape with symbols (`(4 * c, H, W)`)
    note: str = ""  # the DSL text of a layer step (`conv3/s(c)`), named in the forward's comment
    var: str | None = None  # the name a `layer` body gave this value (`n = ...`): its variable in the forward
    channels_last: bool = False  # its value is laid out (H, W, C): inside a channels-last run (codegen/channels_last.py)


@dataclass
class Instance:
    path: tuple
    group: Group
    items: list[Item]
    steps: list[Step]
    out: int
    in_shape: tuple
    candidates: dict[str, Any] = field(default_factory=dict)  # parameter name -> this instance's value
    order: list[str] = field(default_factory=list)  # parameter names in signature order
    call: Call | None = None  # its constructor call, once its class is made
    prev: bool = False  # a two-input cell: value -1 is `prev`, the second input
    cell: bool = False  # a block of a stage of two-input cells (called with x and prev)
    returns: str = "torch.Tensor"
    aux: list[int] = field(default_factory=list)  # side outputs (`aux:`): values of their aux_out steps
    n_main: int = 0  # steps before the side-output branches (all the output needs)
    classifier: int | None = None  # a head's last step when it is its classifier (`pre_logits` stops before it)
    cls: Any = None  # its ClassDef, once made


def span_text(span: Span) -> str:
    """The DSL text at a span, up to the next space outside brackets: `conv3/s(c, g=32)`."""
    line = span.source_line or ""
    start = span.column - 1
    end, depth = start, 0
    while end < len(line) and (depth > 0 or not line[end].isspace()) and end - start < 60:
        if depth == 0 and line[end] in ")]":  # the bracket closing a branch `[h sep(5, c)]`
            break
        depth += line[end] in "([" and 1 or (-1 if line[end] in ")]" else 0)
        end += 1
    return line[start:end].rstrip(",") or line[start: start + max(1, span.length)]


def source_comment(span: Span, note: str, extra: str = "") -> str:
    return escape(f"{span} {note}".rstrip(), 70) + extra


def value_shape(node) -> tuple | None:
    """A value's shape for comments; None for the tuple of maps of `outputs:`."""
    return None if node.op == "outputs" else node.shape


def returns(node) -> str:
    return "tuple[torch.Tensor, ...]" if node.op == "outputs" else "torch.Tensor"


def _channel_axis(shape: tuple) -> int | None:
    """Where a value's width is: images (c h w) and vectors first, tokens (l c) and the
    higher-rank values of a layer body (windows: n1 n2 l c) last, as `fc` and `ln` read them."""
    if not shape:
        return None
    return 0 if len(shape) in (1, 3) else len(shape) - 1


def with_symbol(shape: tuple, name: str) -> tuple:
    """`shape` with its channel count named `name`."""
    axis = _channel_axis(shape)
    if axis is None:
        return shape
    return tuple(sym.symbol(int(v), name) if k == axis else v for k, v in enumerate(shape))


class Builder:
    """Turns the groups of one graph into instances."""

    def __init__(self, g: Graph):
        self.g = g
        self.members: dict[tuple, set[int]] = {p: set() for p in g.groups}
        for n in g:
            for k in range(len(n.scope) + 1):
                if n.scope[:k] in self.members:
                    self.members[n.scope[:k]].add(n.id)
        self.order = {nid: k for k, nid in enumerate(g.order)}
        self.child_calls: dict[tuple, Call] = {}  # group path -> constructor call (after its class is made)
        self.child_insts: dict[tuple, Instance] = {}  # group path -> its instance (after its class is made)
        self.shared: dict[tuple, dict[str, Item]] = {}  # `shared` layers: their home (a stage) -> name -> item
        self.prevs: dict[tuple, int] = {}  # two-input stage block -> its `prev` node
        self._entry_exit: dict[tuple, tuple[int, int]] = {}

    @staticmethod
    def is_stage_block(path: tuple) -> bool:
        return len(path) == 4 and path[0] == "stages" and path[2] == "blocks"

    def sources(self, path: tuple) -> set[int]:
        mine = self.members[path]
        return {s for nid in mine for s in self.g.nodes[nid].inputs if s not in mine}

    def main_input(self, path: tuple) -> int:
        """A stage block's input x: the previous block's output, the `down` output, or the stage's input."""
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
        if path in self._entry_exit:
            return self._entry_exit[path]
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
                raise Unsupported(f"`{self.g.groups[path].label}` has several inputs outside a stage of two-input cells",
                                  self.g.groups[path].span)
            if len(sources) != 1:  # pragma: no cover - lowering makes groups with an input
                raise RuntimeError(f"group {path} has {len(sources)} inputs")
            entry = sources.pop()
        exits = [nid for nid in mine if nid == self.g.output_id or any(s not in mine for s in self.g.readers(nid))]
        if len(exits) != 1:  # pragma: no cover
            raise RuntimeError(f"group {path} has {len(exits)} outputs")
        self._entry_exit[path] = (entry, exits[0])
        return entry, exits[0]

    # ---- one layer ----
    def layer(self, node, sym_ins: list, name: str, note: str, sym_of: dict | None = None) -> tuple[Item, tuple]:
        """The item of a module or parameter op, and its output shape with symbols."""
        spec = ops.get(node.op)
        attrs = self.projection_attrs(node, sym_of) if sym_of is not None and node.attrs.get("_projection") else node.attrs
        out = self.sym_shape(node, sym_ins, attrs)
        last = spec.channels_last(attrs, sym_ins, out) if spec.channels_last is not None else None
        if spec.module is not None:
            item = Item(name, "module", spec.module(attrs, sym_ins, out), node.span, node.shape, note, node.op, channels_last=last)
            if spec.identity_at is not None:
                item.identity = spec.module({**attrs, **spec.identity_at}, sym_ins, out)
            return item, out
        param_note = note if spec.family == "tensor" else node.op  # `param(c, 1, 1)` as the body wrote it
        return Item(name, "param", spec.param(attrs, sym_ins, out), node.span, node.shape, param_note, node.op, channels_last=last), out

    def projection_attrs(self, node, sym_of: dict) -> dict:
        """A shortcut projection (inserted by `insert_projections`) is as wide as its branch
        and strided like it: its width and stride as the branch's symbols, where they agree."""
        g, attrs = self.g, dict(node.attrs)
        reader = node
        while reader.op != "add" and g.n_readers(reader.id) == 1:
            reader = g.nodes[g.readers(reader.id)[0]]
        if reader.op != "add":  # pragma: no cover - the projection feeds its residual sum
            return attrs
        branch, source = reader.inputs[0], node.inputs[0]
        shape = sym_of.get(branch)
        axis = _channel_axis(shape) if shape is not None else None
        if axis is not None and int(shape[axis]) == int(attrs["out"]):
            attrs["out"] = shape[axis]
        on_path = (g.ancestors(branch) | {branch}) & g.descendants(source)
        stride: Any = 1
        for nid in sorted(on_path, key=self.order.__getitem__):
            n = g.nodes[nid]
            if ops.get(n.op).strided and n.attrs.get("stride"):
                stride = stride * n.attrs["stride"]
        if int(stride) == int(attrs["stride"]):
            attrs["stride"] = stride
        return attrs

    @staticmethod
    def sym_shape(node, sym_ins: list, attrs: dict | None = None) -> tuple:
        """The node's output shape computed again from inputs with symbols (the same rule, so the
        same numbers, now carrying expressions); the plain shape where the rule loses them."""
        try:
            out = tuple(ops.get(node.op).shape(node.attrs if attrs is None else attrs, sym_ins))
        except (ShapeError, TypeError, ValueError, KeyError):  # pragma: no cover - the rule passed on these numbers
            return node.shape
        return out if tuple(sym.plain(out)) == tuple(node.shape) else node.shape

    def shared_use(self, node, path: tuple, items: list[Item], steps: list[Step], sym_ins: list) -> tuple:
        """A use of a `shared` layer in a stage block: the block holds a `SharedRef` to the
        stage's module (passed to its constructor); the first use makes that module."""
        sh = node.attrs["_shared"]
        home = tuple(sh["home"])
        if home[:1] != ("stages",) or not self.is_stage_block(path) or path[:2] != home:
            raise Unsupported("a `shared` layer outside the blocks of a stage (or in a nested block)", node.span)
        name = attr_name(str(sh["name"]), node.span)
        defs = self.shared.setdefault(home, {})
        plain_ins = [self.g.nodes[i].shape for i in node.inputs]
        if name not in defs:
            item, _ = self.layer(node, plain_ins, name, f"shared {name}")
            defs[name] = item
        if not any(it.name == name for it in items):
            items.append(Item(name, "shared", call("SharedRef", Raw(name)), node.span, node.shape, f"shared {name}"))
        steps.append(Step(name, None, list(node.inputs), node.id, node.shape, node.span, sym_shape=node.shape))
        return node.shape

    def symbolic_call(self, child: tuple, c_in: tuple) -> tuple[Call | None, tuple | None]:
        """A child's constructor call with its arguments in the caller's symbols where they
        come from them (`Inner(in_channels, 4 * c)`, not numbers the caller must be passed),
        and its output shape in those symbols too."""
        call_, inst = self.child_calls.get(child), self.child_insts.get(child)
        if call_ is None or inst is None or inst.cls is None:
            return call_, None
        grp = self.g.groups[child]
        in_name = grp.info.get("input_param", "in_channels")
        outer: dict[str, Any] = {k: v for k, v in (grp.info.get("call_args") or {}).items() if sym.is_symbolic(v)}
        axis = _channel_axis(inst.in_shape) if inst.in_shape else None
        if axis is not None and axis < len(c_in) and sym.is_symbolic(c_in[axis]):
            outer[in_name] = c_in[axis]
        by_safe = {safe: orig for orig, safe in inst.cls.renamed.items()}
        args = []
        for (kw, value, default), (safe, _, _) in zip(call_.args, inst.cls.params):
            v = outer.get(by_safe.get(safe, ""))
            args.append((kw, v if v is not None and sym.plain(v) == sym.plain(value) else value, default))
        last = next((st for st in inst.steps if st.out == inst.out), None)
        out = None
        if last is not None and last.sym_shape is not None:
            out = tuple(sym.substitute(d, outer) for d in last.sym_shape)
        return Call(call_.func, tuple(args)), out

    # ---- one group ----
    def instance(self, path: tuple) -> Instance:
        g = self.g
        grp = g.groups[path]
        mine = self.members[path]
        entry, exit_ = self.entry_exit(path)
        in_name = grp.info.get("input_param", "in_channels")
        # blocks take their input width as a parameter; the stem and head exist once, with fixed widths
        symbolic = grp.kind in ("block", "call", "down", "layer")
        sym_of: dict[int, tuple] = {entry: with_symbol(g.nodes[entry].shape, in_name) if symbolic else g.nodes[entry].shape}
        items: list[Item] = []
        steps: list[Step] = []
        subs: dict[str, Item] = {}
        done: set[tuple] = set()
        for nid in sorted(mine, key=self.order.__getitem__):
            if nid == g.input_id:
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
                    attr_name(str(rel[0]), g.groups[child].span)
                exit_node = g.nodes[c_exit]
                c_in = sym_of.get(c_entry, g.nodes[c_entry].shape)
                c_call, c_out = self.symbolic_call(child, c_in) if symbolic else (self.child_calls.get(child), None)
                # a child keeping its input's shape keeps its symbols too
                sym_of[c_exit] = c_out or (c_in if exit_node.shape == g.nodes[c_entry].shape else exit_node.shape)
                items.append(Item(name, "child", c_call, g.groups[child].span, value_shape(exit_node),
                                  span_text(g.groups[child].span)))
                steps.append(Step(name, None, [c_entry], c_exit, value_shape(exit_node), g.groups[child].span,
                                  sym_shape=sym_of[c_exit] if exit_node.op != "outputs" else None,
                                  note=span_text(g.groups[child].span)))
                continue
            spec = ops.get(node.op)
            sym_ins = [sym_of.get(i, g.nodes[i].shape) for i in node.inputs]
            if "_shared" in node.attrs:
                sym_of[nid] = self.shared_use(node, path, items, steps, sym_ins)
                continue
            residual = node.op == "add" and bool(node.attrs.get("residual"))
            if not spec.owns_attribute:
                out = self.sym_shape(node, sym_ins)
                sym_of[nid] = out
                if spec.expr is None:
                    raise Unsupported(f"layer `{node.op}` has no source form (its OpSpec needs `module`, `param` or `expr`)",
                                      node.span)
                text = spec.expr(node.attrs, [self.g.nodes[i].shape for i in node.inputs], node.shape)
                steps.append(Step(None, text, list(node.inputs), nid, value_shape(node), node.span, residual, node,
                                  out if node.op != "outputs" else None))
                continue
            name = attr_name(node.name or "", node.span)
            note = span_text(node.span) if (spec.user or spec.family == "tensor") and not node.sub else f"{node.op} ({'.'.join(map(str, node.sub)) or 'added'})"
            note = node.attrs.get("_note", note)  # a layer a pass made or changed says so (passes/head.py)
            item, out = self.layer(node, sym_ins, name, note, sym_of)
            sym_of[nid] = out
            if item.kind == "param":
                if node.sub:
                    raise Unsupported(f"a parameter op `{node.op}` inside a container", node.span)
                items.append(item)
                text = spec.expr(node.attrs, [self.g.nodes[i].shape for i in node.inputs], node.shape)
                steps.append(Step(name, text, list(node.inputs), nid, node.shape, node.span, sym_shape=out))
                continue
            layer_note = node.attrs.get("_note", span_text(node.span) if spec.user and not node.sub else "")
            if node.sub:
                if len(node.sub) != 1:
                    raise Unsupported("nested containers inside a group", node.span)
                sub = attr_name(str(node.sub[0]), node.span)
                if sub not in subs:
                    subs[sub] = Item(sub, "chain", [], node.span, None, sub)
                    items.append(subs[sub])
                    steps.append(Step(sub, None, list(node.inputs), nid, node.shape, node.span, sym_shape=out, note=layer_note))
                chain = subs[sub]
                last = steps[-1] if steps and steps[-1].item == sub else None
                if chain.value and (last is None or node.inputs != [last.out] or g.n_readers(last.out) != 1):
                    raise Unsupported(f"container `{sub}` is not a plain chain", node.span)
                chain.value.append(item)
                chain.shape = node.shape
                steps[-1].out, steps[-1].shape, steps[-1].sym_shape = nid, node.shape, out
                continue
            if not any(it.name == name for it in items):  # a module called more than once (a shared activation) is made once
                items.append(item)
            steps.append(Step(name, None, list(node.inputs), nid, node.shape, node.span, sym_shape=out, note=layer_note))
        in_shape = g.nodes[entry].shape
        aux_outs = [st.out for st in steps if st.node is not None and st.node.op == "aux_out"]
        n_main = len(steps)
        if aux_outs:  # side outputs: the steps the output needs first, then the side branches
            if not self.is_stage_block(path):
                raise Unsupported("a side output (`aux:`) outside the blocks of a stage", g.nodes[aux_outs[0]].span)
            main = g.ancestors(exit_) | {exit_}
            steps = [st for st in steps if st.out in main] + [st for st in steps if st.out not in main]
            n_main = sum(1 for st in steps if st.out in main)
        inst = Instance(path, grp, items, steps, exit_, in_shape, returns=returns(g.nodes[exit_]), n_main=n_main)
        ids = {entry: 0}  # values relative to the instance: the entry is 0 (`prev`, a second input: -1)
        if path in self.prevs:
            ids[self.prevs[path]] = -1
            inst.prev = True
        inst.cell = self.is_stage_block(path) and self.cell_stage(path[:2])
        for k, st in enumerate(steps):
            ids[st.out] = k + 1
            var = g.nodes[st.out].attrs.get("_var") if st.out in g.nodes else None
            if var is not None and is_plain_identifier(var) and var not in RESERVED_VARS:
                st.var = var
        for st in steps:
            st.inputs = [ids[i] for i in st.inputs]
            st.out = ids[st.out]
        inst.out = ids[exit_]
        inst.aux = [ids[a] for a in aux_outs]
        if inst.aux:
            inst.returns = "torch.Tensor | tuple[torch.Tensor, ...]"
        if symbolic:
            self.parameters(inst, in_name)
        last = steps[-1] if steps else None
        if grp.kind == "head" and last is not None and last.out == inst.out and last.expr is None and len(last.inputs) == 1:
            op = next((it.op for it in items if it.name == last.item), None)
            if op == "fc":
                inst.classifier = len(steps) - 1
        channels_last.apply(inst)
        return inst

    def parameters(self, inst: Instance, in_name: str) -> None:
        """The names a class for this instance may take as parameters, with their values."""
        info = inst.group.info
        cands: dict[str, Any] = {}
        order: list[str] = list(info.get("params") or [])
        for k, v in (info.get("args") or {}).items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                cands[k] = sym.plain(v)
                if k not in order:
                    order.append(k)
        if inst.in_shape and in_name not in cands:
            axis = _channel_axis(inst.in_shape)
            if axis is not None:
                cands[in_name] = inst.in_shape[axis]
                order.insert(0, in_name)
        inst.candidates = cands
        inst.order = [n for n in order if n in cands]
