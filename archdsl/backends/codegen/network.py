"""The network: classes for every block, the stages, and the network class itself.

Groups are turned into instances deepest first (a class's constructor call is needed by
its parent), instances of one block definition merged into classes (`classes.py`); stem,
head and `down` lines that are plain chains become `nn.Sequential`s. Stages build their
blocks in loops, per-block values that follow no pattern (stochastic-depth rates) in one
table. The network class has timm's interface (`runtime/network.py`): `forward_features`,
`forward_head(pre_logits=)`, its classifier, `pretrained_cfg`, and ends its constructor
with the file's `init` scheme.
"""

from __future__ import annotations

from typing import Any

from archdsl.backends.codegen.classes import ClassDef, Classes
from archdsl.backends.codegen.features import feature_lines
from archdsl.backends.codegen.instances import (Builder, Instance, Item, Unsupported, source_comment, span_text, value_shape,
                                                returns)
from archdsl.backends.codegen.layout import assign, layout, split_expr
from archdsl.backends.codegen.names import RESERVED, class_name, escape
from archdsl.backends.codegen.render import class_lines, forward_lines, item_comment, shape_text, step_comment
from archdsl.backends.codegen.values import REQUIRED, Call, Raw, literal, render_plain, same
from archdsl.backends.codegen import runtime
from archdsl.catalog import model_name
from archdsl.ir.graph import Graph
from archdsl.ir.init_schemes import RUNTIME as INIT_RUNTIME
from archdsl.ops.code import call

IMAGENET = {"mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225), "crop_pct": 0.875, "interpolation": "bicubic"}


class NetworkWriter:
    def __init__(self, g: Graph):
        self.g = g
        self.b = Builder(g)
        self.classes = Classes(RESERVED | runtime.names())
        self.instances: dict[tuple, Instance] = {}
        self.seq: dict[tuple, Instance] = {}  # stem / head / down groups written as nn.Sequential
        self.aux_stages = False  # some stage returns side outputs (`aux:`) in training mode

    # ---- instances and classes ----
    @staticmethod
    def chainable(inst: Instance) -> bool:
        for k, st in enumerate(inst.steps):
            if st.inputs != [k] or st.out != k + 1 or st.expr is not None:
                return False
        return all(it.kind in ("module", "child") for it in inst.items) and inst.out == len(inst.steps)

    def as_sequential(self, inst: Instance) -> Instance:
        """In a stem/head/down chain, functional ops with a module form (flatten, identity)
        become modules, so the group can be an `nn.Sequential`."""
        modules = {"torch.flatten(x, 1)": ("flatten", call("nn.Flatten")), "x": ("identity", call("nn.Identity"))}
        fn_steps = [st for st in inst.steps if st.item is None]
        if not fn_steps or any(st.expr not in modules for st in fn_steps):
            return inst
        names = {it.name for it in inst.items}
        for st in fn_steps:
            base, value = modules[st.expr]
            name, k = base, 2
            while name in names:
                name, k = f"{base}{k}", k + 1
            names.add(name)
            pos = sum(1 for s in inst.steps[: inst.steps.index(st)] if s.item is not None)
            inst.items.insert(pos, Item(name, "module", value, st.span, st.shape, span_text(st.span)))
            st.item, st.expr = name, None
        return inst

    def make_classes(self) -> None:
        g = self.g
        paths = [p for p in g.groups if p != () and g.groups[p].kind != "stage"]
        position = {nid: k for k, nid in enumerate(g.order)}
        first = {p: min((position[n] for n in self.b.members[p]), default=0) for p in paths}
        for depth in sorted({len(p) for p in paths}, reverse=True):
            keyed: dict[Any, list[Instance]] = {}
            names: dict[Any, tuple[str, str]] = {}
            for p in sorted((p for p in paths if len(p) == depth), key=first.__getitem__):
                inst = self.b.instance(p)
                self.instances[p] = inst
                grp = g.groups[p]
                if grp.kind in ("stem", "head", "down") and self.chainable(self.as_sequential(inst)):
                    self.seq[p] = inst
                    continue
                if grp.kind in ("block", "call", "layer") and not grp.info.get("inline"):
                    key = ("block", grp.label)
                    ds = grp.info.get("def_span")
                    what = "Layer" if grp.kind == "layer" else "Block"
                    names[key] = (grp.label, f"{what} `{grp.label}`" + (f", defined at {ds}." if ds else "."))
                elif grp.info.get("inline"):
                    key = ("inline", str(grp.span))
                    names[key] = (f"{g.name}_block", f"Stage block `{span_text(grp.span)}`, from {grp.span}.")
                else:
                    key = (grp.kind,)
                    names[key] = (grp.kind, f"The `{grp.kind}` line, from {grp.span}.")
                keyed.setdefault(key, []).append(inst)
            for key, insts in keyed.items():
                base, doc = names[key]
                self.classes.make(base, insts, doc)
                for inst in insts:
                    self.b.child_calls[inst.path] = inst.call
                    self.b.child_insts[inst.path] = inst

    # ---- the network class ----
    def net_lines(self, net_cls: str) -> tuple[list[str], list[str]]:
        """The network's constructor body and its methods."""
        g = self.g
        net = self.b.instance(())
        init: list[str] = []
        tables: dict[str, list[Any]] = {}
        stage_paths = sorted([p for p in g.groups if g.groups[p].kind == "stage"], key=lambda p: p[1])
        stage_lines: list[str] = []
        for p in stage_paths:
            stage_lines += self.stage_lines(p, tables)
        parts: list[tuple[str, Any]] = []  # ("part", item) or ("stages", None), in forward order
        for it in net.items:
            if it.name.startswith("stages."):
                if not parts or parts[-1][0] != "stages":
                    for tname, vals in tables.items():
                        init += layout(8, f"{tname} = ", [literal(v) for v in vals], "", None, "[]")
                    init.append("        self.stages = nn.ModuleList()")
                    init += stage_lines
                    parts.append(("stages", None))
                continue
            init += self.part_lines((it.name,), f"self.{it.name}", 8)
            parts.append(("part", it))
        methods = self.methods(net, parts, init)
        scheme, kwargs = g.init
        fn = INIT_RUNTIME.get(scheme)
        if fn is not None:
            args = [f"{k}={literal(v)}" for k, v in kwargs.items() if k != "_args"]
            args = [literal(v) for v in kwargs.get("_args", [])] + args
            init += layout(8, fn, ["self", *args], "", f"`init {scheme}`")
        return init, methods

    def methods(self, net: Instance, parts: list[tuple[str, Any]], init: list[str]) -> list[str]:
        g = self.g
        out_node = g.nodes[g.output_id]
        lines: list[str] = []
        head = parts[-1][1] if parts and parts[-1][0] == "part" and parts[-1][1].name == "head" else None
        features = parts[:-1] if head is not None else parts
        head_inst = self.seq.get(("head",))
        head_class = self.instances.get(("head",)) if head_inst is None else None
        classifier = None
        if head_inst is not None and head_inst.items and head_inst.items[-1].op == "fc" and not self.aux_stages:
            classifier = head_inst.items[-1]
        elif head_class is not None and head_class.classifier is not None and not self.aux_stages:
            step = head_class.steps[head_class.classifier]
            classifier = next(it for it in head_class.items if it.name == step.item)
        annotation = "torch.Tensor | tuple[torch.Tensor, ...]" if self.aux_stages else returns(out_node)
        in_shape = g.input_shape
        # `fc(0)` (classes=0) is a classifier slot holding nn.Identity: no classes
        identity = classifier is not None and isinstance(classifier.value, Call) and classifier.value.func == "nn.Identity"
        n_classes = int(out_node.shape[-1]) if classifier is not None and not identity else 0
        cfg = {"architecture": model_name(g.name, g.variant), "input_size": tuple(in_shape), "num_classes": n_classes, **IMAGENET}
        try:
            literal(cfg["architecture"])
        except ValueError:
            del cfg["architecture"]
        init.append("        self.pretrained_cfg = {")
        init += [f"            \"{k}\": {literal(v)}," for k, v in cfg.items()]
        init.append("        }")
        init += feature_lines(g, self.b, self.seq.get(("stem",)), head_inst or head_class, head_inst is not None)

        def body(pieces: list[tuple[str, Any]]) -> list[str]:
            out = []
            for kind, it in pieces:
                if kind == "stages" and self.aux_stages:
                    out += ["        aux: list[torch.Tensor] = []", "        for stage in self.stages:", "            x = stage(x)",
                            "            if isinstance(x, tuple):  # training mode: side outputs (`aux:`)",
                            "                x, *more = x", "                aux += more"]
                elif kind == "stages":
                    out += ["        for stage in self.stages:", "            x = stage(x)"]
                elif (it.name,) in self.seq:  # a plain chain: each layer's call on its own line, named in a traceback
                    for layer in self.seq[(it.name,)].items:
                        out += assign(8, "x", f"self.{it.name}.{layer.name}(x)", step_comment(layer.note, shape_text(layer.shape)))
                else:
                    out += assign(8, "x", f"self.{it.name}(x)", step_comment(it.note, self.value_text(it)) or None)
            return out

        if head is None or self.aux_stages:
            lines += layout(4, "def forward", ["self", "x: torch.Tensor"], f" -> {annotation}:")
            lines += body(parts)
            lines.append("        return (x, *aux) if aux else x" if self.aux_stages else "        return x")
            return lines
        lines += layout(4, "def forward_features", ["self", "x: torch.Tensor"], " -> torch.Tensor:")
        lines += body(features) + ["        return x", ""]
        lines += layout(4, "def forward_head", ["self", "x: torch.Tensor", "pre_logits: bool = False"], f" -> {annotation}:")
        if classifier is not None:
            if head_inst is not None:
                for it in head_inst.items[:-1]:
                    lines += assign(8, "x", f"self.head.{it.name}(x)", step_comment(it.note, shape_text(it.shape)))
                lines.append(f"        return x if pre_logits else self.head.{classifier.name}(x)")
                features = head_inst.items[-2].shape if len(head_inst.items) > 1 else head_inst.in_shape
            else:
                lines.append("        return self.head(x, pre_logits=pre_logits)")
                k = head_class.classifier
                features = head_class.steps[k - 1].shape if k > 0 else head_class.in_shape
            init.insert(0, f"        self.classifier_name = \"head.{classifier.name}\"")
            init.insert(1, f"        self.num_features = {int(features[0] if len(features) == 3 else features[-1])}")
        else:
            lines.append("        return self.head(x)  # the head has no classifier to stop before")
        lines += ["", *layout(4, "def forward", ["self", "x: torch.Tensor"], f" -> {annotation}:"),
                  "        return self.forward_head(self.forward_features(x))"]
        return lines

    def value_text(self, it: Item) -> str:
        """A shape comment; for the tuple of `outputs:`, its maps' shapes."""
        if it.shape is not None:
            return shape_text(it.shape)
        node = self.g.nodes[self.g.output_id]
        if node.op != "outputs":
            return ""
        return "(" + ", ".join(shape_text(self.g.nodes[i].shape) for i in node.inputs) + ")"

    def part_lines(self, path: tuple, target: str, indent: int) -> list[str]:
        """Constructor lines for a stem/head/down group: an nn.Sequential or a class call."""
        g = self.g
        grp = g.groups[path]
        pad = " " * indent
        if path in self.seq:
            inst = self.seq[path]
            lines = [f"{pad}# {grp.kind}: {shape_text(inst.in_shape)} -> {shape_text(g.nodes[self.b.entry_exit(path)[1]].shape)}",
                     f"{pad}{target} = nn.Sequential()"]
            for it in inst.items:
                expr = render_plain(it.value)
                comment = source_comment(it.span, it.note, f" -> {shape_text(it.shape)}")
                with_shape = assign(indent, f"{target}.{it.name}", expr, comment)
                full = len(with_shape) == 1 and with_shape[0].endswith(comment)
                lines += with_shape if full else assign(indent, f"{target}.{it.name}", expr, item_comment(it))
            return lines
        return assign(indent, target, render_plain(self.b.child_calls[path]), source_comment(grp.span, span_text(grp.span)))

    # ---- stages ----
    def stage_lines(self, path: tuple, tables: dict[str, list[Any]]) -> list[str]:
        g = self.g
        blocks = sorted((p for p in g.groups if len(p) == 4 and p[:2] == path and p[2] == "blocks"), key=lambda p: p[3])
        out_shape = g.nodes[self.b.entry_exit(path)[1]].shape
        calls = [self.b.child_calls[p] for p in blocks]
        names = sorted({c.func for c in calls})
        what = f"{len(blocks)} x {names[0]}" if len(names) == 1 else f"{len(blocks)} blocks ({', '.join(names)})"
        lines = [f"        # stage {path[1]}: {what} -> {shape_text(out_shape)}"]
        down = path + ("down",)
        has_down = down in g.groups
        if has_down:
            lines += self.part_lines(down, "down", 8)
        shared = self.b.shared.get(path, {})
        if shared:  # one module per `shared` layer, owned by the stage, passed to every block
            lines.append("        shared = nn.Module()")
            for name, it in shared.items():
                lines += assign(8, f"shared.{name}", render_plain(it.value), item_comment(it))
        lines += self.block_list(blocks, calls, tables)
        tail = ", down" if has_down else ""
        cells = self.b.cell_stage(path)
        aux = any(self.instances[p].aux for p in blocks)
        if bool(shared) + cells + aux > 1:
            raise Unsupported("a stage that combines two-input cells, `shared` layers and side outputs", g.groups[path].span)
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
                lines += comprehension("keep_prev = ", f"k in {literal(marked)}", "k", f"range({len(keep)})")
            lines.append(f"        self.stages.append(CellStage(blocks, keep_prev{tail}))")
        elif shared:
            lines.append(f"        self.stages.append(SharedStage(blocks, shared{tail}))")
        else:
            lines.append(f"        self.stages.append(Stage(blocks{tail}))")
        return lines

    def keep_prev(self, stage: tuple, blocks: list[tuple]) -> list[bool]:
        """Per cell of a stage of two-input cells: whether the next cell's `prev` is this
        cell's own prev (NASNet's keep_prev) rather than this cell's input, read from the graph."""
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
                    raise Unsupported("a cell whose `prev` is neither the previous cell's input nor its prev", self.g.groups[p].span)
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
        index = [g.groups[p].info.get("block_index") for p in blocks]
        table_args = set()
        for a in range(len(calls[0].args)):
            rest = [c.args[a][1] for c in calls[1:]]
            if rest and not all(same(v, rest[0]) for v in rest) and None not in index:
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

        def text(c: Call) -> str:
            args = []
            for a, (kw, v, d) in enumerate(c.args):
                if a in table_args:
                    v = Raw(f"{table_names[a]}[k]")
                elif d is not REQUIRED and same(v, d):
                    continue
                args.append((kw, v, REQUIRED))
            return render_plain(Call(c.func, tuple(args)))

        def alike(a: Call, b: Call) -> bool:
            return all(k in table_args or same(x[1], y[1]) for k, (x, y) in enumerate(zip(a.args, b.args)))

        var = "k" if table_args else "_"
        first = index[0] if table_args else 0
        if all(alike(calls[0], c) for c in calls):
            rng = f"range({first}, {first + n})" if table_args and first else f"range({n})"
            return comprehension("blocks = ", text(calls[0]), var, rng)
        lines = layout(8, "blocks = ", [text(calls[0]).replace("[k]", f"[{first}]")], "", None, "[]")
        if n == 2:
            lines += layout(8, "blocks.append", [text(calls[1]).replace("[k]", f"[{first + 1}]")])
        elif n > 2:
            rng = f"range({first + 1}, {first + n})" if table_args else f"range({n - 1})"
            lines += comprehension("blocks += ", text(calls[1]), var, rng)
        return lines


def comprehension(head: str, expr: str, var: str, rng: str) -> list[str]:
    return split_expr(8, f"[{expr} for {var} in {rng}]", "", head)


__all__ = ["ClassDef", "NetworkWriter", "class_lines", "class_name", "escape", "forward_lines", "value_shape"]
