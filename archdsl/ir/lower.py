"""Lowering: AST + parameter values -> IR graph.

This is where repeats are expanded (`x3`, per-stage `x[3,3,9,3]`), blocks are
instantiated with their arguments, stage widths/strides are bound, residual/branch
structures become `add`/`cat` nodes, and stochastic-depth rates are assigned. Shapes
are not known yet; `archdsl.passes.shapes` infers and checks them next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archdsl import ops
from archdsl.errors import ArchError, Span, did_you_mean
from archdsl.ir import sym
from archdsl.ir.init_schemes import check_init
from archdsl.ir.graph import Graph, Group, Node, Path
from archdsl.ir.lower_layers import LayerLowering, args_hint
from archdsl.ir.lower_overrides import OverrideLowering
from archdsl.ir.lower_structures import RESIDUAL_KINDS, RESIDUAL_OPTIONS, StructureLowering, lone_struct
from archdsl.ir.shapes import infer_shapes
from archdsl.ir.tensors import TensorLowering, check_layer_body, name_layer_groups
from archdsl.ir.usage import check_option_clash, check_stage_options, check_unused
from archdsl.ir.values import BlockRef, Env, describe, evaluate, format_value, infer_type
from archdsl.syntax import ast

if TYPE_CHECKING:
    from archdsl.passes.parameters import Resolved

# Refuse absurd programs up front, before they take time or memory.
MAX_NODES = 200_000  # ops in one network
MAX_REPEAT = 10_000  # one repeat count
MAX_BLOCKS = 10_000  # stage blocks in all stages
MAX_DEPTH = 64  # nesting of block calls


@dataclass
class _StagePlan:
    section: ast.Section
    body: list[ast.Item]
    index: int  # global stage index
    depth: int
    options: dict[str, Any]
    repeat_span: Span
    block_options: dict[str, list[Any]]  # options given one value per block of the stage line


def lower(program: ast.Program, resolved: "Resolved", input_shape: tuple[int, ...] | None = None,
          variant: str | None = None) -> Graph:
    g = _Lowering(program, resolved, resolved.variant).run(input_shape)
    name_layer_groups(g)
    check_unused(program)  # after lowering: a typo of a parameter's name is reported as the unknown name it is
    return g


class _Lowering(OverrideLowering, StructureLowering, LayerLowering, TensorLowering):
    def __init__(self, program: ast.Program, resolved: "Resolved", variant: str | None):
        self.p = program
        self.r = resolved
        self.globals = Env(resolved.values)
        for let in program.lets:
            if let.name in self.globals:
                raise ArchError(f"`let {let.name}` shadows an existing name", let.span, "choose another name")
            value = evaluate(let.value, self.globals, program.blocks)
            if let.name in (resolved.lets or {}):  # `--set NAME=...` for a let: same type as the file's own value
                value = self._override(resolved.lets[let.name], f"`{let.name}`", infer_type(value), value)
            self.globals.values[let.name] = value
        self.defaults: dict[str, dict[str, Any]] = {}
        # `default residual(scale=1e-6, drop=0.1)`: options of every residual of a stage block
        self.residual_defaults: dict[str, tuple[Any, Span]] = {}
        for d in program.defaults:
            if d.layer in RESIDUAL_KINDS:
                for k, e in d.kwargs.items():
                    if k not in RESIDUAL_OPTIONS:
                        raise ArchError(f"`default {d.layer}` has no option `{k}`", e.span,
                                        did_you_mean(k, RESIDUAL_OPTIONS) or "options: " + ", ".join(RESIDUAL_OPTIONS))
                    # an option that names a parameter is reported where its value came from (`--set`)
                    span = resolved.spans.get(e.id, e.span) if isinstance(e, ast.Name) else e.span
                    self.residual_defaults[k] = (evaluate(e, self.globals, program.blocks), span)
                continue
            if d.layer in program.layers:  # `default grn(eps=1e-5)`: a `layer` definition's parameters
                for k, e in d.kwargs.items():
                    self._layer_default(program.layers[d.layer], k, evaluate(e, self.globals, program.blocks),
                                        d.kwarg_spans.get(k, e.span), "")
                continue
            found = ops.lookup(d.layer)
            if found is None:
                raise ArchError(f"unknown layer `{d.layer}` in `default`", d.span, ops.suggest(d.layer))
            spec = found[0]
            vals = self.defaults.setdefault(spec.name, {})
            for k, e in d.kwargs.items():
                arg = spec.arg(k)
                if arg is None:
                    raise ArchError(f"`{spec.name}` has no argument `{k}`", d.span, did_you_mean(k, spec.arg_names) or args_hint(spec))
                vals[k] = self._arg_value(spec, arg, e, self.globals)
        for (layer, k), o in (resolved.defaults or {}).items():  # `--set ln.eps=1e-5`: as a `default` line would
            self._default_override(layer, k, o)
        init = ("torch", {})
        if program.init is not None:
            init = (program.init.scheme, {k: evaluate(v, self.globals) for k, v in program.init.kwargs.items()})
            if program.init.args:
                init[1]["_args"] = [evaluate(a, self.globals) for a in program.init.args]
            check_init(program.init, init[1].get("_args", []), {k: v for k, v in init[1].items() if k != "_args"})
        self.g = Graph(program.name, variant, dict(resolved.values), (), init=init, source_file=program.file)
        self.next_id = 0
        self.call_counts: dict[tuple, int] = {}
        self.depth = 0
        self.total_blocks = 0
        self.in_stage_block = False
        self.block_index: int | None = None
        # `shared NAME = layer`: one instance per stage (or stem/head), made at its first use
        self.stage_env: Env | None = None
        self.stage_passed: set[str] = set()  # the stage options a stage line's blocks and layers took
        self.stage_blocks: dict[str, ast.BlockDef] = {}
        self.shared_made: dict[tuple[Path, str], tuple[int, tuple]] = {}
        for ld in program.layers.values():
            if ops.lookup(ld.name) is not None:
                raise ArchError(f"`{ld.name}` is a built-in layer token; a `layer` definition needs a name of its own", ld.span,
                                f"e.g. `layer my_{ld.name}(...)`; `archdsl ops {ld.name}` shows the built-in one")
            check_layer_body(ld)
        for d in program.shared.values():
            if d.name in program.blocks or d.name in self.globals or ops.lookup(d.name) is not None:
                what = "a block" if d.name in program.blocks else "a parameter" if d.name in self.globals else "a layer token"
                raise ArchError(f"shared layer `{d.name}` has the name of {what}", d.span, "choose another name")
        # two-input cells: `prev` (the input of the previous stage block) and the named
        # values of the block body being lowered (name -> node id; the set of those used)
        self.prev: int | None = None
        self.stage_entry: tuple[Path, int] | None = None
        self.values: dict[str, int] = {}
        self.used: set[str] = set()

    # ---- entry -----------------------------------------------------------------
    def run(self, input_shape) -> Graph:
        if input_shape is None:
            if self.p.input is None:
                raise ArchError("missing `input` line", self.p.span, "add e.g. `input 3x224x224` after the header")
            input_shape = tuple(self._int(e, self.globals, "input size", minimum=1) for e in self.p.input.dims)
        self.g.input_shape = tuple(input_shape)
        self.g.groups[()] = Group((), "net", self.p.name, self.p.span)
        x = self._node("input", {"shape": tuple(input_shape)}, [], self.p.input.span if self.p.input else self.p.span, (), "input")
        self.g.input_id = x

        downs = [s for s in self.p.sections if s.kind == "down"]
        if len(downs) > 1:
            raise ArchError("more than one `down` line", downs[1].span, "`down` is applied before every stage after the first")
        down = downs[0] if downs else None
        plans = self._plan_stages(down is not None)
        self.total_blocks = sum(p.depth for p in plans)
        seen_kinds: dict[str, ast.Section] = {}
        block_counter = 0
        last_input: int | None = None  # the input of the previous stage block: the next one's `prev`
        plan_iter = iter(plans)
        for sec in self.p.sections:
            if sec.kind in ("stem", "head"):
                if sec.kind in seen_kinds:
                    raise ArchError(f"second `{sec.kind}` line", sec.span, f"first at line {seen_kinds[sec.kind].span.line}; put all its layers on one line")
                seen_kinds[sec.kind] = sec
                scope = (sec.kind,)
                self.g.groups[scope] = Group(scope, sec.kind, sec.kind, sec.span)
                for it in sec.chain.items:
                    if isinstance(it, ast.Option):
                        raise ArchError(f"`{it.name}=...` options belong on stage lines", it.span)
                x = self._chain(sec.chain.items, x, self.globals, scope)
            elif sec.kind == "stage":
                self.stage_passed, self.stage_blocks, widths = set(), {}, []  # what the stage's options reached
                for plan in [p for p in plans if p.section is sec]:
                    next(plan_iter)
                    i = plan.index
                    stage_scope = ("stages", i)
                    self.g.groups[stage_scope] = Group(stage_scope, "stage", f"stage {i}", sec.span, {"depth": plan.depth})
                    stage_env = self.stage_env = self._stage_env(plan, sec)
                    self.stage_entry = (stage_scope, x)
                    if down is not None and i > 0:
                        scope = stage_scope + ("down",)
                        down_env = stage_env.child({"s": sym.symbol(1, "s")})
                        self.g.groups[scope] = Group(scope, "down", "down", down.span, {"args": self._stage_args(down_env)})
                        x = self._chain(down.chain.items, x, down_env, scope)
                    for j in range(plan.depth):
                        scope = stage_scope + ("blocks", j)
                        stride = plan.options.get("s", 1) if j == 0 else 1
                        row = {name: vals[j] for name, vals in plan.block_options.items()}
                        env = stage_env.child({k: sym.symbol(sym.plain(v), k) for k, v in {"s": stride, "j": j, **row}.items()})
                        self.block_index = block_counter
                        self.in_stage_block = True
                        self.prev = x if last_input is None else last_input
                        x_in = x
                        x = self._stage_block(plan, x, env, scope)
                        # NASNet's skip_reduction_layer_input: after a cell with keep_prev,
                        # the next cell's h_{i-1} is this cell's h_{i-1}, not its input
                        keep = self._stage_lookup(env, "keep_prev")[1]
                        if not isinstance(keep, (bool, type(None))):
                            raise ArchError(f"`keep_prev` must be true or false, got {describe(keep)}", sec.span)
                        last_input = self.prev if keep else x_in
                        self.in_stage_block = False
                        self.block_index = None
                        self.prev = None
                        block_counter += 1
                    self.stage_env = None
                    widths.append((plan.options.get("c"), self._channels(x)))  # `c=` as written, the width reached
                check_stage_options(sec, self.p, self.stage_passed, self.stage_blocks, widths)
        if not any(n.op != "input" for n in self.g):
            raise ArchError("the network has no layers", self.p.span, "add `stem`, `stage` or `head` lines")
        for n in self.g:
            if n.op == "outputs" and n.id != x:
                raise ArchError("`outputs:` must end the network: its tuple cannot feed other layers", n.span,
                                "put `outputs:` last (e.g. in a block called from the `head`)")
        self.g.output_id = x
        return self.g

    # ---- stages ----------------------------------------------------------------------
    def _plan_stages(self, has_down: bool) -> list[_StagePlan]:
        plans: list[_StagePlan] = []
        index = 0
        dims = self.globals.get("dims")
        for sec in self.p.sections:
            if sec.kind != "stage":
                continue
            items = list(sec.chain.items)
            options: list[ast.Option] = []
            while items and isinstance(items[-1], ast.Option):
                options.insert(0, items.pop())
            for it in items:
                if isinstance(it, ast.Option):
                    raise ArchError(f"option `{it.name}=...` must come after the stage's layers", it.span)
            if not items:
                raise ArchError("stage line has no layers", sec.span, "e.g. `stage dw7 ln mlp4 x[3,3,9,3]`")
            last = items[-1]
            if isinstance(last, ast.Repeat):
                items[-1] = last.item
                rep_span = last.span
                if sec is self.r.implicit_depths:
                    counts = self.globals.get("depths")
                    src = "depths"
                else:
                    counts = evaluate(last.count, self.globals, self.p.blocks)
                    src = None
                if isinstance(counts, list):
                    per_stage = counts
                elif last.per_stage:  # pragma: no cover - grammar makes x[..] a list
                    per_stage = [counts]
                else:
                    per_stage = [counts]
            else:
                per_stage, rep_span, src = [1], sec.span, None
            for c in per_stage:
                if isinstance(c, bool) or not isinstance(c, int) or c < 1:
                    what = f"`depths` = {format_value(per_stage)}" if src else f"repeat {format_value(per_stage)}"
                    raise ArchError(f"{what}: every stage needs a whole number of blocks >= 1, got {describe(c)}", rep_span)
            n = len(per_stage)
            if sum(per_stage) + sum(p.depth for p in plans) > MAX_BLOCKS:
                raise ArchError(f"{sum(per_stage) + sum(p.depth for p in plans):,} stage blocks is more than the limit of {MAX_BLOCKS:,}",
                                rep_span, "check the repeat counts")
            if isinstance(dims, list) and len(per_stage) > 1 and index + n > len(dims):
                what = f"`depths` = {format_value(per_stage)}" if src else f"x{format_value(per_stage)}"
                raise ArchError(f"{what} gives {index + n} stages but `dims` has {len(dims)} entries", rep_span,
                                "give one depth per stage width (set `depths` and `dims` to lists of the same length)")
            if isinstance(dims, list) and len(per_stage) > 1 and index + n < len(dims) and len([s for s in self.p.sections if s.kind == "stage"]) == 1:
                what = f"`depths` = {format_value(per_stage)}" if src else f"x{format_value(per_stage)}"
                raise ArchError(f"{what} gives {n} stages but `dims` has {len(dims)} entries", rep_span,
                                "give one depth per stage width (set `depths` and `dims` to lists of the same length)")
            opt_values: list[dict[str, Any]] = [{} for _ in range(n)]
            per_block: list[dict[str, list[Any]]] = [{} for _ in range(n)]
            total = sum(per_stage)
            for o in options:
                v = evaluate(o.value, self.globals, self.p.blocks)
                name = "s" if o.name == "strides" else o.name
                if isinstance(v, list) and len(v) != n and len(v) == total:
                    # a per-block table: one value for every block of this stage line
                    start = 0
                    for k in range(n):
                        per_block[k][name] = v[start:start + per_stage[k]]
                        start += per_stage[k]
                    if name == "s":
                        for s in v:
                            if isinstance(s, bool) or not isinstance(s, int) or s < 1:
                                raise ArchError(f"block stride must be a positive integer, got {describe(s)}", o.value.span)
                elif isinstance(v, list):
                    if len(v) != n:
                        extra = f" or {total} blocks" if total != n else ""
                        raise ArchError(f"`{o.name}` has {len(v)} entries for {n} stages{extra}", o.value.span,
                                        "give one value per stage" + (" or one per block" if total != n else ""))
                    for k in range(n):
                        opt_values[k][name] = v[k]
                else:
                    for k in range(n):
                        opt_values[k][name] = v
            for k in range(n):
                if "s" not in opt_values[k]:
                    opt_values[k]["s"] = 1 if (has_down or index + k == 0) else 2
                s = opt_values[k]["s"]
                if isinstance(s, bool) or not isinstance(s, int) or s < 1:
                    raise ArchError(f"stage stride must be a positive integer, got {describe(s)}", sec.span)
                plans.append(_StagePlan(sec, items, index + k, per_stage[k], opt_values[k], rep_span, per_block[k]))
            index += n
        return plans

    def _stage_env(self, plan: _StagePlan, sec: ast.Section) -> Env:
        values = {k: v for k, v in plan.options.items() if k != "s"}
        values["i"] = plan.index
        dims = self.globals.get("dims")
        if "c" not in values and isinstance(dims, list):
            if plan.index >= len(dims):
                raise ArchError(f"stage {plan.index} has no width: `dims` has {len(dims)} entries", sec.span,
                                "add a width to `dims` for every stage")
            values["c"] = dims[plan.index]
        # stage-bound names are symbols (archdsl.ir.sym): what a stage body computes from
        # them keeps its expression, for the class the code generator writes for the body
        return self.globals.child({k: sym.symbol(sym.plain(v), k) for k, v in values.items()})

    def _stage_block(self, plan: _StagePlan, x: int, env: Env, scope: Path) -> int:
        body = plan.body
        ref = self._block_ref(body[0], env) if len(body) == 1 and isinstance(body[0], ast.Layer) else None
        if ref is not None:
            layer = body[0]
            block = self.stage_blocks[ref.name] = self.p.blocks[ref.name]
            check_option_clash(plan.section, block, layer)
            self.g.groups[scope] = Group(scope, "block", block.name, layer.span, {"block_index": self.block_index})
            return self._passthrough(x, self._call_block(block, layer, x, env, scope, implicit=env), layer.span, scope)
        self.g.groups[scope] = Group(scope, "block", "block", plan.section.chain.span,
                                     {"block_index": self.block_index, "args": self._stage_args(env),
                                      "inline": True})
        if lone_struct(body):  # `stage [residual: dw3 bn] x[2,2]`: the structure is the block, not x + it
            return self._chain(body, x, env, scope)
        return self._residual(lambda y: self._chain(body, y, env, scope), x, scope, plan.section.chain.span, {}, env)

    def _stage_args(self, env: Env) -> dict[str, Any]:
        """The stage-bound names visible in `env` (c, s, i, j, stage options) and their values:
        the parameters of the class the code generator writes for an inline stage body."""
        out: dict[str, Any] = {}
        e: Env | None = env
        while e is not None and e is not self.globals:
            for k, v in e.values.items():
                out.setdefault(k, sym.plain(v))
            e = e.parent
        return out

    # ---- blocks ---------------------------------------------------------------------
    def _block_ref(self, layer: ast.Layer, env: Env) -> BlockRef | None:
        if layer.word in self.p.blocks:
            return BlockRef(layer.word)
        found, v = env.lookup(layer.word)
        if found and isinstance(v, BlockRef):
            return v
        if found and ops.lookup(layer.word) is None:
            raise ArchError(f"`{layer.word}` is {describe(v)}, not a layer or block", layer.span)
        return None

    def _call_block(self, block: ast.BlockDef, layer: ast.Layer, x: int, env: Env, scope: Path, implicit: Env | None) -> int:
        if layer.stride is not None:
            raise ArchError(f"block `{block.name}` takes its stride as a parameter, not `/`", layer.stride.span,
                            "declare a parameter (e.g. `s`) and pass it: `name(s=2)`")
        bound: dict[str, Any] = {}
        names = [p.name for p in block.params]
        if len(layer.args) > len(names):
            raise ArchError(f"block `{block.name}` takes {len(names)} arguments, got {len(layer.args)}", layer.span,
                            f"parameters: {', '.join(names) or 'none'}")
        for p, e in zip(block.params, layer.args):
            bound[p.name] = evaluate(e, env, self.p.blocks)
        for k, e in layer.kwargs.items():
            if k not in names:
                raise ArchError(f"block `{block.name}` has no parameter `{k}`", layer.kwarg_spans.get(k, layer.span),
                                did_you_mean(k, names) or f"parameters: {', '.join(names) or 'none'}")
            bound[k] = evaluate(e, env, self.p.blocks)
        input_param = None
        for p in block.params:
            if p.name in bound:
                continue
            if p.name == "cin":  # the block's input width, unless passed explicitly
                bound[p.name] = self._channels(x)
                input_param = p.name
                continue
            found, v = self._stage_lookup(implicit, p.name) if implicit is not None else (False, None)
            if found:
                bound[p.name] = v
                self.stage_passed.add(p.name)
            elif p.default is not None:
                bound[p.name] = evaluate(p.default, self.globals.child(bound), self.p.blocks)
            else:
                raise ArchError(f"block `{block.name}` needs a value for `{p.name}`", layer.span,
                                f"pass it: `{block.name}({p.name}=...)`")
        info = self.g.groups[scope].info  # what the call bound, and where the block is defined, for backends
        info.setdefault("args", {k: sym.plain(v) for k, v in bound.items()})
        info.setdefault("call_args", dict(bound))  # as the caller computed them: symbols of the caller's scope
        info.setdefault("params", [p.name for p in block.params])
        info.setdefault("defaults", self._constant_defaults(block))
        info.setdefault("def_span", block.span)
        if input_param is not None:
            info.setdefault("input_param", input_param)
        # inside the body every parameter is a symbol of its own name (archdsl.ir.sym)
        bound = {k: sym.symbol(sym.plain(v), k) for k, v in bound.items()}
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ArchError(f"blocks nest deeper than {MAX_DEPTH} levels (is `{block.name}` recursive?)", layer.span,
                            "a block cannot use itself")
        saved = (self.values, self.used)
        self.values, self.used = {}, set()
        try:
            return self._lines(block.body, x, self.globals.child(bound), scope, top=True)
        finally:
            self.depth -= 1
            self.values, self.used = saved

    def _constant_defaults(self, block: ast.BlockDef) -> dict[str, Any]:
        """The parameters whose default is a constant (`g=1`, `act="relu"`), with its value."""
        out = {}
        for p in block.params:
            if p.default is not None and not ast.names_in(p.default) - {"true", "false", "none"}:
                out[p.name] = evaluate(p.default, Env(), self.p.blocks)
        return out

    def _stage_lookup(self, env: Env, name: str) -> tuple[bool, Any]:
        """Stage-bound names (c, s, i, j and stage options), never globals, pass implicitly."""
        e: Env | None = env
        while e is not None and e is not self.globals:
            if name in e.values:
                return True, e.values[name]
            e = e.parent
        return False, None

    # ---- lines, chains, items -------------------------------------------------------
    def _lines(self, lines: list[ast.Line], x: int, env: Env, scope: Path, top: bool = False) -> int:
        for line in lines:
            if isinstance(line, ast.Value):
                self._value(line, x, env, scope, top)
            elif isinstance(line, ast.Chain):
                x = self._chain(line.items, x, env, scope)
            else:
                x = self._struct(line, x, env, scope)
        if top:
            unused = [l for l in lines if isinstance(l, ast.Value) and l.name not in self.used]
            if unused:
                raise ArchError(f"value `{unused[0].name}` is never used", unused[0].span,
                                f"start a chain or branch with `{unused[0].name}`, or remove the line")
        return x

    def _value(self, v: ast.Value, x: int, env: Env, scope: Path, top: bool) -> None:
        """`name = line`: lower the line from the running value `x` and name its result."""
        if not top:
            raise ArchError(f"`{v.name} = ...` inside a structure", v.span, "name values at the top level of a block body")
        clash = ("the previous block's input" if v.name == "prev" else "a layer" if ops.lookup(v.name) is not None
                 else "a block" if v.name in self.p.blocks else "a parameter or `let` value" if v.name in env else None)
        if clash is not None:
            raise ArchError(f"`{v.name}` is {clash}; a value needs its own name", v.span, "e.g. `h`, `p`, `b0`")
        if v.name in self.values:
            raise ArchError(f"value `{v.name}` defined twice in this block", v.span, "give each value its own name")
        line = v.line
        y = self._chain(line.items, x, env, scope) if isinstance(line, ast.Chain) else self._struct(line, x, env, scope)
        self.values[v.name] = y

    def _named(self, it: ast.Layer, scope: Path) -> int | None:
        """The node a chain item names: a value of this block body, or `prev`; else None."""
        if it.word != "prev" and it.word not in self.values:
            return None
        if it.args or it.kwargs or it.stride is not None:
            raise ArchError(f"`{it.word}` is a value, not a layer: it takes no arguments", it.span,
                            f"start the chain with `{it.word}` and put the layers after it")
        if it.word in self.values:
            self.used.add(it.word)
            return self.values[it.word]
        if self.prev is None:
            raise ArchError("`prev` is only defined in blocks of a stage", it.span,
                            "`prev` is the input of the previous stage block (h_{i-1} of two-input cells)")
        stage, entry = self.stage_entry
        if self.prev != entry and self.g.nodes[self.prev].scope[:len(stage)] != stage:
            raise ArchError("`prev` here is a block input from an earlier stage line", it.span,
                            "a stage has one output: put two-input cells in one stage, e.g. with per-block tables")
        return self.prev

    def _chain(self, items: list[ast.Item], x: int, env: Env, scope: Path) -> int:
        for it in items:
            x = self._item(it, x, env, scope)
        return x

    def _item(self, it: ast.Item, x: int, env: Env, scope: Path) -> int:
        if isinstance(it, ast.Layer):
            if it.word in self.p.shared:
                return self._shared(self.p.shared[it.word], it, x, scope)
            named = self._named(it, scope)
            if named is not None:
                return named  # `h ...`, `prev ...`: the chain goes on from that value
            if it.word in self.p.layers:
                return self._layer_call(self.p.layers[it.word], it, x, env, scope)
            found, v = env.lookup(it.word)
            if found and v is None and it.stride is None:
                return x  # a block-valued parameter set to `none`: nothing here (e.g. no attention)
            ref = self._block_ref(it, env)
            if ref is not None:
                return self._nested_call(ref, it, x, env, scope)
            return self._layer(it, x, env, scope)
        if isinstance(it, ast.Group):
            return self._chain(it.chain.items, x, env, scope)
        if isinstance(it, ast.Struct):
            return self._struct(it, x, env, scope)
        if isinstance(it, ast.Repeat):
            if it.per_stage:
                raise ArchError("per-stage repeats `x[...]` go at the end of a stage line", it.span,
                                "inside a chain repeat with a number: `[conv3 bn relu] x2`")
            n = self._int(it.count, env, "repeat count", minimum=0, allow_bool=True)
            if n > MAX_REPEAT:
                raise ArchError(f"repeat count {n:,} is more than the limit of {MAX_REPEAT:,}", it.span)
            for _ in range(n):
                x = self._item(it.item, x, env, scope)
            return x
        if isinstance(it, ast.Option):
            raise ArchError(f"`{it.name}=...` options belong at the end of a stage line", it.span,
                            f"inside a chain, pass values as layer arguments (`conv3(64)`); "
                            f"a named value `{it.name} = ...` is a line of its own in a block body")
        raise RuntimeError(f"unknown item {it!r}")  # pragma: no cover

    def _shared(self, decl: ast.Shared, use: ast.Layer, x: int, scope: Path) -> int:
        """A use of a `shared` layer: the first use in a stage (or stem/head) makes the layer;
        later uses there run the same module (same attributes, one set of weights)."""
        if use.args or use.kwargs or use.stride is not None:
            raise ArchError(f"`{decl.name}` is a shared layer: its arguments are given once, where it is declared", use.span,
                            f"see `shared {decl.name} = ...` at line {decl.span.line}")
        home = scope[:2] if scope[:1] == ("stages",) else scope[:1]
        made = self.shared_made.get((home, decl.name))
        if made is None:
            env = self.stage_env if home[:1] == ("stages",) and self.stage_env is not None else self.globals
            nid = self._layer(decl.layer, x, env, scope)
            node = self.g.nodes[nid]
            spec = ops.get(node.op)
            if spec.module is None or not spec.params(node.attrs, [self._shape(x)], self._shape(nid)):
                raise ArchError(f"`shared {decl.name}`: `{decl.layer.word}` has no weights of its own to share", decl.layer.span,
                                "share a layer with weights (conv, norm, linear, attention), e.g. `shared pos = dw3`")
            if spec.family == "conv" and node.attrs.get("bias") is None:
                node.attrs["bias"] = True  # one module for every use: not decided by what follows one of them
            node.attrs["_shared"] = {"name": decl.name, "home": home, "first": True}
            node.attrs["_token"] = f"`{decl.name}` (shared {node.attrs['_token']})"
            node.span = use.span
            self.shared_made[(home, decl.name)] = (nid, self._shape(x))
            return nid
        first_id, first_shape = made
        first = self.g.nodes[first_id]
        if self._shape(x) != first_shape:
            fmt = lambda t: "x".join(map(str, t))  # noqa: E731
            raise ArchError(f"shared layer `{decl.name}` gets a {fmt(self._shape(x))} input here but {fmt(first_shape)} at its first use "
                            f"(line {first.span.line})", use.span, "one shared module takes one input shape; declare a second `shared` layer")
        attrs = dict(first.attrs, _shared=dict(first.attrs["_shared"], first=False))
        return self._node(first.op, attrs, [x], use.span, scope, first.token)

    def _nested_call(self, ref: BlockRef, layer: ast.Layer, x: int, env: Env, scope: Path) -> int:
        key = (scope, ref.name)
        k = self.call_counts.get(key, 0) + 1
        self.call_counts[key] = k
        path = scope + (f"{ref.name}{k}",)
        self.g.groups[path] = Group(path, "call", ref.name, layer.span)
        y = self._call_block(self.p.blocks[ref.name], layer, x, env, path, implicit=None)
        return self._passthrough(x, y, layer.span, path)

    def _passthrough(self, x: int, y: int, span: Span, scope: Path) -> int:
        """A group whose body only adds side outputs (`aux:`) still needs an output node."""
        return self._node("identity", {"_token": "`identity`"}, [x], span, scope, "identity") if y == x else y

    def _shape(self, x: int) -> tuple[int, ...]:
        """The shape of node `x`, inferred now (lowering needs it for `cin` and `proj=skip`)."""
        if self.g.nodes[x].shape is None:
            infer_shapes(self.g, only_missing=True)
        return self.g.nodes[x].shape

    def _channels(self, x: int) -> int:
        shape = self._shape(x)
        return shape[0] if len(shape) in (1, 3) else shape[-1]

    def _node(self, op: str, attrs: dict, inputs: list[int], span: Span, scope: Path, token: str) -> int:
        if len(self.g.nodes) >= MAX_NODES:
            raise ArchError(f"the network has more than {MAX_NODES:,} layers", span, "reduce the repeat counts")
        node = Node(self.next_id, op, attrs, list(inputs), span, scope, token, block_index=self.block_index)
        self.next_id += 1
        self.g.add(node)
        return node.id
