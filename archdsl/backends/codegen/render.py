"""Class bodies: a class's constructor lines and its straight-line `forward`.

The forward is written from the instance's steps: a module call `self.conv(x)`, or an op's
forward expression (its `expr` template, inputs substituted as `ast` nodes), one
assignment per step with the running value in `x`, a value read later saved under a name
(`shortcut`, `x1`, ...), and a value read only by the merge right after it written inside
that merge. Comments give each layer's DSL token and the value's shape, with the class's
parameters where the shape depends on them (`(4*c, H, W)`).
"""

from __future__ import annotations

import ast
from typing import Any, Callable

from archdsl.backends.codegen import runtime
from archdsl.backends.codegen.classes import ClassDef
from archdsl.backends.codegen.instances import Instance, Item, source_comment
from archdsl.backends.codegen.layout import assign, layout, split_expr
from archdsl.backends.codegen.names import escape
from archdsl.backends.codegen.values import REQUIRED, literal, render, sym_text, template

KNOWN_NAMES = {"torch", "F", "math", "int", "float", "len", "max", "min"}


def shape_text(shape: tuple | None) -> str:
    return "x".join(str(int(v)) for v in shape) if shape else "scalar"


def attribute(path: str) -> ast.expr:
    """`self.a.b` for the dotted attribute path `a.b`."""
    node: ast.expr = ast.Name("self", ast.Load())
    for part in path.split("."):
        node = ast.Attribute(node, part, ast.Load())
    return node


def class_lines(cd: ClassDef, comment_of: Callable[[Item], str]) -> list[str]:
    t = cd.template
    lines: list[str] = []
    sig = ["self"]
    for name, ann, default in cd.params:
        sig.append(f"{name}: {ann}" if default is REQUIRED else f"{name}: {ann} = {literal(default)}")
    lines += layout(4, "def __init__", sig, " -> None:")
    lines.append("        super().__init__()")

    def leaf_fn(path: str) -> Callable[[int, Any], str | None]:
        return lambda k, v: cd.leaf_text.get((path, k), literal(v) if v is not None else "None")

    sig = ["self", "x: torch.Tensor"]
    if t.prev:
        sig.append("prev: torch.Tensor")
    elif any(m.cell for m in cd.members):  # called as a cell, with `prev` it does not read
        sig.append("prev: torch.Tensor | None = None")
    if t.classifier is not None:
        sig.append("pre_logits: bool = False")
    skippable: set[str] = set()  # optional layers the forward skips when absent (`if self.shortcut is not None:`)
    forward = layout(4, "def forward", sig, f" -> {t.returns}:")
    forward += forward_lines(t, lambda k: step_comment(t.steps[k].note, class_shape(cd, k)), optional=set(cd.optional),
                             skippable=skippable)
    for it in t.items:
        ind = 8
        if it.name in cd.optional:  # absent: None where the forward skips it (as torchvision's `downsample`), else an Identity
            lines.append(f"        self.{it.name} = {'None' if it.name in skippable else 'nn.Identity()'}")
            lines.append(f"        if {cd.conditions[it.name]}:")
            ind = 12
        if it.kind == "chain":
            lines.append(f"{' ' * ind}self.{it.name} = nn.Sequential()")
            for s in it.value:
                lines += assign(ind, f"self.{it.name}.{s.name}", render(s.value, leaf_fn(f"{it.name}.{s.name}")), comment_of(s))
            continue
        lines += assign(ind, f"self.{it.name}", render(it.value, leaf_fn(it.name)), comment_of(it))
    lines.append("")
    return lines + forward


def step_comment(note: str, shape: str) -> str:
    """A forward line's comment: the layer's DSL text (so a traceback names it) and the shape."""
    note = escape(note, 40)
    return f"{note} -> {shape}" if note and shape else note or shape


def class_shape(cd: ClassDef, step: int) -> str:
    """A step's output shape across the class's instances: numbers where they agree, the
    expression over the class's parameters where there is one (`4*c`), else a letter."""
    members = [m for m in cd.members if len(m.steps) == len(cd.template.steps)]
    shapes = [m.steps[step].shape for m in members]
    if not shapes or any(s is None or len(s) != len(shapes[0]) for s in shapes):
        return ""
    letters = {3: "CHW", 2: "LC", 1: "C"}.get(len(shapes[0]), "?" * len(shapes[0]))
    sym_shape = cd.template.steps[step].sym_shape
    dims = []
    for d in range(len(shapes[0])):
        vals = [int(s[d]) for s in shapes]
        if all(v == vals[0] for v in vals) and len(members) > 1:
            dims.append(str(vals[0]))
            continue
        channels = d == (0 if len(shapes[0]) in (1, 3) else len(shapes[0]) - 1)
        text = sym_text(sym_shape[d], cd.renamed) if channels and sym_shape is not None and len(sym_shape) == len(shapes[0]) else None
        if text is not None:
            dims.append(text.replace(" ", ""))
        elif all(v == vals[0] for v in vals):
            dims.append(str(vals[0]))
        else:
            dims.append(letters[d])
    if cd.template.steps[step].channels_last and len(dims) == 3:  # the value is laid out (H, W, C)
        dims = dims[1:] + dims[:1]
    if all(d.isdigit() for d in dims):
        return "x".join(dims)
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def forward_lines(inst: Instance, shape_of: Callable[[int], str], indent: int = 8, optional: set[str] = frozenset(),
                  skippable: set[str] | None = None) -> list[str]:
    """The body of `forward`. An `optional` layer (absent from some instances of the class)
    whose input is a variable nothing reads after it is written as a statement the forward
    skips when the layer is None (`if self.shortcut is not None: shortcut = self.shortcut(shortcut)`),
    and its name is added to `skippable`; the others are called unconditionally (an Identity
    where absent)."""
    pad = " " * indent
    steps = inst.steps
    readers: dict[int, list[int]] = {}
    for k, st in enumerate(steps):
        for i in st.inputs:
            readers.setdefault(i, []).append(k)
    var: dict[int, str] = {0: "x", -1: "prev"}  # value -> variable holding it
    live: dict[str, int] = {"x": 0, "prev": -1} if inst.prev else {"x": 0}
    pending: dict[int, ast.expr] = {}  # value -> an expression written into its one reader
    lines: list[str] = []
    counter = [0]
    known = KNOWN_NAMES | runtime.names()
    aux_names = {v: "aux" if len(inst.aux) == 1 else f"aux{n + 1}" for n, v in enumerate(inst.aux)}

    def use(v: int) -> ast.expr:
        if v in pending:
            return pending.pop(v)
        return ast.Name(var[v], ast.Load())

    def still_needed(v: int, after: int) -> bool:
        return any(r > after for r in readers.get(v, [])) or (v == inst.out or v in aux_names) and after < len(steps)

    def reads(st, position: int) -> int:
        """How often the template of step `st` reads its input number `position`."""
        if st.expr is None:  # a module call reads each input once
            return 1
        names = ["x"] if len(st.inputs) == 1 else [f"x{k}" for k in range(len(st.inputs))]
        tree = ast.parse(st.expr, mode="eval")
        return sum(1 for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id == names[position])

    layer = inst.group.kind == "layer"  # a `layer` definition: values named as its body names them

    def names_read(e: ast.expr) -> set[str]:
        return {n.id for n in ast.walk(e) if isinstance(n, ast.Name)}

    def free_name(name: str, k: int) -> str:
        """`name` for a new value: reused when its old value is dead and no expression waiting
        to be written reads it (`n = n / ...` stays `n`), else numbered."""
        old = live.get(name)
        if old is not None and (still_needed(old, k) or any(name in names_read(e) for e in pending.values())):
            counter[0] += 1
            while f"{name}_{counter[0]}" in live:
                counter[0] += 1
            name = f"{name}_{counter[0]}"
        return name

    skip: set[int] = set()
    for k, st in enumerate(steps):
        if k in skip:
            continue
        split = _split_parts(steps, k) if layer else None
        if split is not None:  # `a, b = chunk(x, 2, -1)`: one line, `a, b = x.chunk(2, -1)`
            whole = ast.parse(st.expr, mode="eval").body.value  # the template without its `[index]`
            expr = template(ast.unparse(whole), {"x": use(st.inputs[0])}, known)
            names = []
            for j in split:
                name = free_name(steps[j].var, k)
                live[name] = j + 1
                var[j + 1] = name
                names.append(name)
            lines += assign(indent, ", ".join(names), ast.unparse(expr), None)
            skip.update(split)
            continue
        if k == inst.classifier:  # a head: `pre_logits` returns the features its classifier reads
            lines.append(f"{pad}if pre_logits:")
            lines.append(f"{pad}    return {ast.unparse(use(st.inputs[0]))}")
            args = [ast.Name(var[st.inputs[0]], ast.Load())]
        if aux_names and k == inst.n_main:
            lines.append(f"{pad}if not self.training:  # side outputs in training mode only")
            lines.append(f"{pad}    return {var[inst.out]}")
        out = k + 1
        if layer and st.item is not None and st.expr == "p":  # a learned tensor: read where it is used
            var[out] = ast.unparse(attribute(st.item))
            continue
        if st.item in optional and st.expr is None and skippable is not None and len(st.inputs) == 1:
            v = st.inputs[0]
            if v not in pending and v in var and not still_needed(v, k) and v != inst.out and out not in aux_names:
                name = var[v]
                lines.append(f"{pad}if self.{st.item} is not None:")
                lines += assign(indent + 4, name, ast.unparse(ast.Call(attribute(st.item), [ast.Name(name, ast.Load())], [])),
                                shape_of(k) or None)
                var[out] = name
                live[name] = out
                skippable.add(st.item)
                continue
        if k != inst.classifier:
            args = [use(i) for i in st.inputs]
        if st.expr is None:
            expr: ast.expr = ast.Call(attribute(st.item), args, [])
        else:
            names = ["x"] if len(args) == 1 else [f"x{j}" for j in range(len(args))]
            inputs = dict(zip(names, args))
            if st.item is not None:
                inputs["p"] = attribute(st.item)
            expr = template(st.expr, inputs, known)
        rd = readers.get(out, [])
        one_split = bool(rd) and _split_parts(steps, rd[0]) == rd  # read by the parts of one split only
        if layer and out != inst.out and st.var is None and (len(rd) == 1 or one_split) \
                and (one_split or reads(steps[rd[0]], steps[rd[0]].inputs.index(out)) == 1):
            pending[out] = expr  # an unnamed value read once: written inside its reader
            continue
        if layer and out == inst.out and not aux_names and k == len(steps) - 1:
            pending[out] = expr  # the result: returned as it is computed
            continue
        if st.var is not None and out != inst.out or layer and out != inst.out:  # a named value: its own variable
            name = free_name(st.var or "h", k)
            for v, nm in list(var.items()):  # free the names of dead values
                if nm in live and live[nm] == v and not still_needed(v, k) and nm != "x":
                    del live[nm]
            lines += assign(indent, name, ast.unparse(expr), shape_of(k) or None)
            var[out] = name
            live[name] = out
            continue
        if out in aux_names:
            lines += assign(indent, aux_names[out], ast.unparse(expr), shape_of(k) or None)
            var[out] = aux_names[out]
            live[aux_names[out]] = out
            continue
        rd = readers.get(out, [])
        nxt = steps[k + 1] if k + 1 < len(steps) else None
        if rd == [k + 1] and nxt.item is None and nxt.expr is not None and out != inst.out and reads(nxt, nxt.inputs.index(out)) == 1:
            pending[out] = expr  # read once, by the merge right after: written inside it
            continue
        held = live.get("x")  # save a value still needed later before `x` is overwritten
        if held is not None and still_needed(held, k):
            if held == inst.out and "out" not in live:  # the output, kept while side outputs are computed
                name = "out"
            else:
                later = [r for r in readers[held] if r > k]
                name = "shortcut" if "shortcut" not in live and all(steps[r].residual or steps[r].item == "shortcut" for r in later) else None
            if name is None:
                counter[0] += 1
                name = f"x{counter[0]}"
                while name in live:
                    counter[0] += 1
                    name = f"x{counter[0]}"
            lines.append(f"{pad}{name} = x")
            var[held] = name
            live[name] = held
        for v, nm in list(var.items()):  # free the names of dead values
            if nm != "x" and nm in live and live[nm] == v and not still_needed(v, k):
                del live[nm]
        lines += assign(indent, "x", ast.unparse(expr), shape_of(k) or None)
        var[out] = "x"
        live["x"] = out
    result = ast.unparse(use(inst.out)) if inst.out in pending else var[inst.out]
    lines += split_expr(indent, ", ".join([result, *aux_names.values()]), "", "return ")
    return lines


def _split_parts(steps: list, k: int) -> list[int] | None:
    """The steps k, k+1, ... that are the parts 0..n-1 of one `chunk` (or `split`) of one value, each named
    by the layer body (`a, b = chunk(x, 2, -1)`); None when step k does not start one."""
    node = steps[k].node
    if node is None or node.op != "chunk" or node.attrs.get("index") != 0:
        return None
    n = node.attrs["parts"]
    group = list(range(k, k + n))
    if group[-1] >= len(steps):
        return None
    for j, idx in zip(group, range(n)):
        other = steps[j].node
        if other is None or other.op != "chunk" or other.attrs.get("index") != idx or other.attrs.get("parts") != n \
                or other.attrs.get("sizes") != node.attrs.get("sizes") \
                or other.attrs.get("axis") != node.attrs.get("axis") or steps[j].inputs != steps[k].inputs or steps[j].var is None:
            return None
    return group


def item_comment(it: Item) -> str:
    return source_comment(it.span, it.note)
