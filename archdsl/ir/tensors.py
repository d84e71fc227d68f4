"""Lowering `layer` definitions: layers written in `.arch` from tensor primitives.

    layer grn(eps=1e-6):                      # ConvNeXt V2's global response norm
        gamma = param(c, 1, 1)
        beta = param(c, 1, 1)
        n = norm2(x, "hw")                    # C x 1 x 1: the L2 norm of each channel
        n = n / (mean(n, "c") + eps)
        x + gamma * (x * n) + beta

A use of the layer (`stage dw7 ln pw(4*c) gelu grn pw(c)`, or `grn(y)` inside another
layer) becomes one group, built as one module named after the layer. In the body `x` is
the input, `c` its width (and `h`, `w` for an image, `l` for tokens); each line names a
tensor (`a, b = chunk(x, 2, -1)` names several) and the last line is the result. Tensor
expressions use `+ - * /` (broadcasting), `@`, the primitives of archdsl/ops/tensor.py
(`param`, `mean`, `sum`, `amax`, `norm2`, `softmax`, `transpose`, `rearrange`, `chunk`,
`split`, `attention`, `relpos`), and any layer token or other `layer`, called on a tensor:
`fc(x, 64)`, `ln(y)`, `gelu(h)`; a token's stride, its `/s` suffix in a chain, is the keyword
`stride=` here (`avgpool3(x, stride=1)`). Numbers mix in as the language's expressions do.
"""

from __future__ import annotations

from typing import Any

from archdsl import ops
from archdsl.errors import ArchError, Span, did_you_mean
from archdsl.ir import sym
from archdsl.ir.graph import Graph, Group, Path
from archdsl.ir.values import Env, describe, evaluate, format_value
from archdsl.syntax import ast

PRIMITIVES = {"param", "mean", "sum", "amax", "norm2", "softmax", "transpose", "rearrange", "chunk", "split", "attention", "relpos"}
_LAYOUT = {3: "chw", 2: "lc", 1: "c"}  # axis letters of images, token sequences, vectors
_DIMS = ("c", "h", "w", "l")  # the input's sizes, bound in a layer body


class T:
    """A tensor value inside a layer body: the IR node that makes it."""

    def __init__(self, node: int):
        self.node = node


class TensorLowering:
    """`_Lowering`'s `layer` uses (a mixin: the state lives in archdsl.ir.lower._Lowering)."""

    def _layer_call(self, ldef: ast.LayerDef, use: ast.Layer, x: int, env: Env, scope: Path, args: list[Any] | None = None,
                    kwargs: dict[str, Any] | None = None) -> int:
        """One use of a `layer` definition on input `x`: its body lowered into a group of its own."""
        if use.stride is not None:
            raise ArchError(f"layer `{ldef.name}` takes its stride as a parameter, not `/`", use.stride.span,
                            "declare a parameter (e.g. `s`) and pass it")
        key = (scope, ldef.name)
        k = self.call_counts.get(key, 0) + 1
        self.call_counts[key] = k
        path = scope + (f"{ldef.name}#{k}",)  # named by `name_layer_groups` once all uses are known
        names = [p.name for p in ldef.params]
        given_args = [evaluate(e, env, self.p.blocks) for e in use.args] if args is None else args
        given_kwargs = {k2: evaluate(e, env, self.p.blocks) for k2, e in use.kwargs.items()} if kwargs is None else kwargs
        if len(given_args) > len(names):
            raise ArchError(f"layer `{ldef.name}` takes {len(names)} argument{'s' * (len(names) != 1)}, got {len(given_args)}", use.span,
                            f"parameters: {', '.join(names) or 'none'}")
        bound: dict[str, Any] = dict(zip(names, given_args))
        for k2, v in given_kwargs.items():
            if k2 not in names:
                raise ArchError(f"layer `{ldef.name}` has no parameter `{k2}`", use.kwarg_spans.get(k2, use.span),
                                did_you_mean(k2, names) or f"parameters: {', '.join(names) or 'none'}")
            bound[k2] = v
        for k2, v in self.defaults.get(ldef.name, {}).items():  # `default grn(eps=...)`, `--set grn.eps=...`
            bound.setdefault(k2, v)
        for p in ldef.params:
            if p.name not in bound:
                if p.default is None:
                    raise ArchError(f"layer `{ldef.name}` needs a value for `{p.name}`", use.span, f"pass it: `{ldef.name}({p.name}=...)`")
                bound[p.name] = evaluate(p.default, self.globals.child(bound), self.p.blocks)
        shape = self._shape(x)
        dims = {"c": shape[0] if len(shape) in (1, 3) else shape[-1]}
        if len(shape) == 3:
            dims.update(h=shape[1], w=shape[2])
        elif len(shape) == 2:
            dims["l"] = shape[0]
        info = {"args": {k2: sym.plain(v) for k2, v in {**bound, "c": dims["c"]}.items()}, "call_args": dict(bound),
                "params": ["c", *names], "input_param": "c", "def_span": ldef.span,
                "defaults": self._constant_defaults(ldef)}
        self.g.groups[path] = Group(path, "layer", ldef.name, use.span, info)
        symbols = {k2: sym.symbol(sym.plain(v), k2) for k2, v in bound.items()}
        symbols["c"] = sym.symbol(dims["c"], "c")
        body_env = self.globals.child({**{k2: v for k2, v in dims.items() if k2 != "c"}, **symbols})
        tensors: dict[str, T] = {"x": T(x)}
        self.depth += 1
        if self.depth > 64:
            raise ArchError(f"layers nest too deeply (is `{ldef.name}` recursive?)", use.span, "a layer cannot use itself")
        try:
            out = None
            for line in ldef.lines:
                value = self._tvalue(line.value, tensors, body_env, path)
                if not line.names:
                    out = value
                    continue
                values = value if isinstance(value, list) else [value]
                if len(values) != len(line.names):
                    count = "one value" if len(values) == 1 else f"{len(values)} values"
                    raise ArchError(f"{len(line.names)} names for {count}", line.span,
                                    "`a, b = chunk(x, 2, -1)` names each part")
                for name, v in zip(line.names, values):
                    if name in body_env and not isinstance(v, T) or name in names or name in _DIMS:
                        raise ArchError(f"`{name}` is a parameter or size of the layer; a value needs its own name", line.span,
                                        "the body reads the parameters and the input's sizes c, h, w (or l) by name: choose another")
                    if isinstance(v, T):
                        tensors[name] = v
                        attrs = self.g.nodes[v.node].attrs
                        attrs.setdefault("_var", name)
                        if len(line.names) == 1 and isinstance(line.value, ast.Call) and name not in ast.names_in(line.value):
                            attrs.setdefault("_module_var", name)  # `qkv = fc(x, 3 * c)`: its module is `self.qkv`
                    else:
                        body_env.values[name] = v
        finally:
            self.depth -= 1
        if not isinstance(out, T):
            raise ArchError(f"layer `{ldef.name}` must end with a line giving its output tensor", ldef.lines[-1].span,
                            f"it gives {describe(out)}; the last line of the body is the result, e.g. `x + gamma * y`")
        if out.node == x:
            out = T(self._node("identity", {"_token": "`identity`"}, [x], use.span, path, "identity"))
        # the output is the caller's value: a name the body gave it (`proj = conv1(...)` then
        # `proj`) is not the caller's variable (its module keeps the name)
        self.g.nodes[out.node].attrs.pop("_var", None)
        return out.node

    # ---- tensor expressions ----
    def _tvalue(self, e: ast.Expr, tensors: dict[str, T], env: Env, path: Path) -> Any:
        """A tensor expression: a T (an IR node), a list of them (`chunk`), or a plain value."""
        if not (ast.names_in(e) & set(tensors)) and not self._calls_layers(e):
            return evaluate(e, env, self.p.blocks)
        if isinstance(e, ast.Name):
            return tensors[e.id]
        if isinstance(e, ast.BinOp):
            a, b = self._tvalue(e.left, tensors, env, path), self._tvalue(e.right, tensors, env, path)
            if e.op == "@":
                return T(self._tnode("matmul", {}, [self._tensor(a, e.left.span), self._tensor(b, e.right.span)], e, path))
            if e.op not in ("+", "-", "*", "/"):
                raise ArchError(f"`{e.op}` is not defined on tensors", e.span, "tensors take + - * / and @")
            return T(self._tnode("arith", {"op": e.op}, [self._operand(a, e.left.span, path), self._operand(b, e.right.span, path)], e, path))
        if isinstance(e, ast.Neg):
            return T(self._tnode("arith", {"op": "neg"}, [self._tensor(self._tvalue(e.operand, tensors, env, path), e.span)], e, path))
        if isinstance(e, ast.Call):
            return self._tcall(e, tensors, env, path)
        raise ArchError("a tensor cannot be used here", e.span, "tensors take + - * / @, the primitives and layer tokens")

    def _calls_layers(self, e: ast.Expr) -> bool:
        """Whether an expression calls a primitive or a layer (a tensor value even without tensor names)."""
        todo = [e]
        while todo:
            n = todo.pop()
            if isinstance(n, ast.Call) and (n.func in PRIMITIVES or n.func in self.p.layers):
                return True
            if hasattr(n, "__dataclass_fields__"):
                todo += [v for f in n.__dataclass_fields__ if f != "span" for v in _children(getattr(n, f))]
        return False

    def _operand(self, v: Any, span: Span, path: Path) -> int:
        if isinstance(v, T):
            return v.node
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ArchError(f"a tensor and {describe(v)} cannot be combined", span, "use a number or a tensor")
        return self._node("const", {"value": sym.plain(v), "_token": f"`{v}`"}, [], span, path, str(sym.plain(v)))

    @staticmethod
    def _tensor(v: Any, span: Span) -> int:
        if not isinstance(v, T):
            raise ArchError(f"expected a tensor, got {describe(v)}", span, "pass a tensor: the input `x`, a named value, a param")
        return v.node

    def _tnode(self, op: str, attrs: dict, inputs: list[int], e: ast.Expr, path: Path) -> int:
        text = _expr_text(e)
        nid = self._node(op, {**attrs, "_token": f"`{text}`"}, inputs, e.span, path, text)
        self._shape(nid)  # shape errors surface at the expression that made the node
        return nid

    def _axes(self, v: Any, t: int, span: Span) -> tuple[int, ...]:
        """Axes by letters of the tensor's layout (`"hw"` of an image) or by numbers (batch excluded)."""
        rank = len(self._shape(t))
        if isinstance(v, str):
            letters = _LAYOUT.get(rank)
            if letters is None or any(ch not in letters for ch in v) or not v:
                raise ArchError(f"axes `{v}` do not name dims of a {rank}-d tensor" + (f" (`{letters}`)" if letters else ""), span,
                                "name axes by letter (images: c h w, tokens: l c) or by number, counting from 0 after the batch")
            return tuple(letters.index(ch) for ch in v)
        values = v if isinstance(v, list) else [v]
        if not values or any(isinstance(a, bool) or not isinstance(a, int) or not -rank <= a < rank for a in values):
            raise ArchError(f"axes {format_value(v)} do not fit a {rank}-d tensor", span, "numbers count from 0 after the batch; -1 is the last")
        return tuple(sym.plain(a) for a in values)

    def _tcall(self, e: ast.Call, tensors: dict[str, T], env: Env, path: Path) -> Any:
        args = [self._tvalue(a, tensors, env, path) for a in e.args]
        kwargs = {k: self._tvalue(v, tensors, env, path) for k, v in e.kwargs.items()}
        spans = [a.span for a in e.args]
        if e.func in PRIMITIVES:
            return self._primitive(e, args, kwargs, spans, path)
        if not args or not isinstance(args[0], T):
            raise ArchError(f"`{e.func}` is applied to a tensor: `{e.func}(x, ...)`", e.span,
                            "a layer token or `layer` takes its input tensor first")
        if any(isinstance(a, T) for a in args[1:]) or any(isinstance(v, T) for v in kwargs.values()):
            raise ArchError(f"`{e.func}` takes one tensor, its first argument", e.span)
        x = args[0].node
        kwargs_e = dict(e.kwargs)
        found = ops.lookup(e.func) if e.func not in self.p.layers else None
        # a stride has no `/s` suffix inside an expression: `avgpool3(x, stride=1)` gives it
        stride = kwargs_e.pop("stride", None) if found is not None and found[0].strided else None
        layer = ast.Layer(e.func, stride, list(e.args[1:]), kwargs_e, e.span)
        if e.func in self.p.layers:
            return T(self._layer_call(self.p.layers[e.func], layer, x, env, path, args=args[1:], kwargs=kwargs))
        if e.func in self.p.blocks:
            raise ArchError(f"`{e.func}` is a block; a layer body uses layers and primitives", e.span,
                            "write it as a `layer`, or call the block from a chain")
        if ops.lookup(e.func) is None:
            raise ArchError(f"unknown function or layer `{e.func}`", e.span,
                            did_you_mean(e.func, sorted(PRIMITIVES | set(self.p.layers) | {s.name for s in ops.user_ops()}))
                            or "primitives: " + ", ".join(sorted(PRIMITIVES)))
        return T(self._layer(layer, x, env, path))

    def _primitive(self, e: ast.Call, args: list, kwargs: dict, spans: list[Span], path: Path) -> Any:
        f = e.func
        allowed = {"param": {"init", "std"}, "mean": {"keep"}, "sum": {"keep"}, "amax": {"keep"}, "norm2": {"keep"},
                   "softmax": set(), "transpose": set(), "rearrange": None, "chunk": set(), "split": set(), "attention": {"bias", "scale"},
                   "relpos": {"kind"}}[f]
        if allowed is not None:
            for k in kwargs:
                if k not in allowed:
                    raise ArchError(f"`{f}` has no argument `{k}`", e.span, did_you_mean(k, allowed) or f"`{f}` takes " +
                                    (", ".join(f"`{a}=`" for a in sorted(allowed)) or "no keyword arguments"))
        if f == "param":
            if not args or any(isinstance(a, T) for a in args):
                raise ArchError("`param` takes the sizes of the learned tensor: `param(c, 1, 1)`", e.span)
            return T(self._tnode("param", {"shape": tuple(args), "init": kwargs.get("init", 0.0), "std": kwargs.get("std")}, [], e, path))
        if f == "relpos":
            if len(args) != 3:
                raise ArchError("`relpos(heads, h, w, kind=...)` takes the heads and the window's height and width", e.span,
                                "e.g. `relpos(heads, 7, 7)` for a 7 x 7 window")
            return T(self._tnode("relpos", {"heads": args[0], "h": args[1], "w": args[2], "kind": kwargs.get("kind", "offset")}, [], e, path))
        if f == "attention":
            if len(args) != 3:
                raise ArchError("`attention(q, k, v, bias=..., scale=...)` takes three tensors", e.span)
            inputs = [self._tensor(a, s) for a, s in zip(args, spans)]
            if kwargs.get("bias") is not None:
                inputs.append(self._tensor(kwargs["bias"], e.span))
            return T(self._tnode("attention", {"scale": kwargs.get("scale")}, inputs, e, path))
        t = self._tensor(args[0] if args else None, spans[0] if spans else e.span)
        if f in ("mean", "sum", "amax", "norm2"):
            if len(args) != 2:
                raise ArchError(f"`{f}(x, axes)` takes a tensor and the axes to reduce", e.span, 'e.g. `mean(x, "hw")`')
            return T(self._tnode("reduce", {"kind": f, "axes": self._axes(args[1], t, spans[1]), "keep": bool(kwargs.get("keep", True))},
                                 [t], e, path))
        if f == "softmax":
            axis = self._axes(args[1], t, spans[1])[0] if len(args) > 1 else -1
            return T(self._tnode("softmax", {"axis": axis}, [t], e, path))
        if f == "transpose":
            a, b = (self._axes(v, t, s)[0] for v, s in zip(args[1:3], spans[1:3])) if len(args) == 3 else (-2, -1)
            return T(self._tnode("transpose", {"a": a, "b": b}, [t], e, path))
        if f == "rearrange":
            if len(args) != 2 or not isinstance(args[1], str):
                raise ArchError('`rearrange(x, "pattern", name=size, ...)` takes a tensor and an einops pattern', e.span)
            return T(self._tnode("rearrange", {"pattern": args[1], "sizes": {k: sym.plain(v) for k, v in kwargs.items()}}, [t], e, path))
        if f == "chunk":
            if len(args) not in (2, 3) or isinstance(args[1], bool) or not isinstance(args[1], int):
                raise ArchError("`chunk(x, n, axis)` takes a tensor, a number of parts and an axis", e.span)
            axis = self._axes(args[2], t, spans[2])[0] if len(args) == 3 else -1
            return [T(self._tnode("chunk", {"parts": args[1], "index": k, "axis": axis}, [t], e, path)) for k in range(args[1])]
        if f == "split":
            sizes = args[1] if len(args) in (2, 3) else None
            if not isinstance(sizes, list) or not sizes or any(isinstance(v, bool) or not isinstance(v, int) for v in sizes):
                raise ArchError("`split(x, [n1, n2, ...], axis)` takes a tensor, a list of part sizes and an axis", e.span,
                                "e.g. `q, k, v = split(x, [32, 32, 128], -1)`; `chunk(x, n, axis)` cuts n equal parts")
            if any(v < 1 for v in sizes):
                raise ArchError(f"split part sizes must be at least 1, got {describe(sizes)}", spans[1])
            axis = self._axes(args[2], t, spans[2])[0] if len(args) == 3 else -1
            sizes = tuple(sym.plain(v) for v in sizes)
            return [T(self._tnode("chunk", {"parts": len(sizes), "sizes": sizes, "index": k, "axis": axis}, [t], e, path))
                    for k in range(len(sizes))]
        raise AssertionError(f)  # pragma: no cover - every primitive is handled above


def check_layer_body(ld: ast.LayerDef) -> None:
    """A `layer`'s parameters are not named like its input, its body computes its output on
    its last line, and every value it names is read."""
    for p in ld.params:
        if p.name in _DIMS or p.name == "x":
            raise ArchError(f"a layer parameter cannot be named `{p.name}`: in the body it is the input's "
                            f"{'tensor' if p.name == 'x' else 'size'}", p.span, "choose another name")
    if not ld.lines or ld.lines[-1].names:
        span = ld.lines[-1].span if ld.lines else ld.span
        raise ArchError(f"layer `{ld.name}` must end with a line giving its output tensor", span,
                        "the last line of the body is the result, e.g. `x + gamma * y`")
    for k, line in enumerate(ld.lines):
        for name in line.names:
            for later in ld.lines[k + 1:]:
                if name in ast.names_in(later.value):
                    break
                if name in later.names:  # replaced before anything read it
                    later = None
                    break
            else:
                later = None
            if later is None:
                raise ArchError(f"`{name}` is computed but never used", line.span,
                                "use it in a later line, or remove the line")


def _children(v: Any) -> list:
    if isinstance(v, list):
        return v
    if isinstance(v, dict):
        return list(v.values())
    return [v]


def _expr_text(e: ast.Expr) -> str:
    """The DSL text of an expression, from its source line (for tokens and source maps)."""
    line = e.span.source_line or ""
    start = e.span.column - 1
    return line[start:start + max(1, e.span.length)] or type(e).__name__


def name_layer_groups(g: Graph) -> None:
    """`grn#1` -> `grn` where a container holds one use of the layer, `grn1`, `grn2` where several."""
    counts: dict[tuple, int] = {}
    for path in g.groups:
        if path and "#" in str(path[-1]):
            base = str(path[-1]).split("#")[0]
            counts[path[:-1] + (base,)] = counts.get(path[:-1] + (base,), 0) + 1
    renames: dict[tuple, tuple] = {}
    for path in sorted(g.groups, key=len):
        parent = renames.get(path[:-1], path[:-1]) if path else ()
        last = path[-1] if path else None
        if last is not None and "#" in str(last):
            base, k = str(last).split("#")
            last = base if counts[path[:-1] + (base,)] == 1 else f"{base}{k}"
        renames[path] = parent + ((last,) if path else ())
    if all(a == b for a, b in renames.items()):
        return
    g.groups = {renames[p]: Group(renames[p], grp.kind, grp.label, grp.span, grp.info) for p, grp in g.groups.items()}
    for n in g.nodes.values():
        n.scope = renames.get(n.scope, n.scope)
