"""Tensor primitives: the parts `layer` definitions are written with (archdsl/ir/tensors.py).

    x + y, x - y, x * y, x / y      elementwise, broadcasting as numpy does (batch excluded)
    a @ b                           matrix product of the last two dims
    param(*shape, init=0)           a learned tensor (`std=` draws it from a truncated normal)
    mean / sum / amax / norm2(x, axes, keep=true)
    softmax(x, axis), transpose(x, a, b)
    rearrange(x, "l (h d) -> h l d", h=heads)      einops notation over the non-batch axes
    chunk(x, n, axis)               n equal parts (`a, b = chunk(x, 2, -1)`)
    split(x, [n1, n2, ...], axis)   parts of the given sizes (`q, k, v = split(x, [32, 32, 128], -1)`)
    attention(q, k, v, bias=..., scale=...)        softmax(q k^T * scale + bias) v, as
                                                   F.scaled_dot_product_attention
    relpos(heads, h, w, kind=...)   a learned relative-position bias table, gathered to
                                    heads x N x N (N = h*w): kind "offset" (Swin, CoAtNet),
                                    "distance" (EfficientFormer), "axial" (MaxViT's TF port)

Shapes exclude the batch, like every shape in the IR; axes count the non-batch dims from 0
(or from the end, negative). The primitives are ops of family "tensor", not chain tokens:
a layer body calls them like functions.
"""

from __future__ import annotations

import math
import re

from archdsl.ops.code import call, inputs, lit
from archdsl.ops.geometry import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register

ARITH = {"+": "add", "-": "sub", "*": "mul", "/": "div"}


def broadcast(a: tuple, b: tuple) -> tuple:
    """numpy broadcasting of two shapes (batch excluded; a missing leading dim is 1)."""
    n = max(len(a), len(b))
    a, b = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for x, y in zip(a, b):
        if x != y and 1 not in (x, y):
            raise ShapeError(f"cannot broadcast {fmt_shape(a)} with {fmt_shape(b)}",
                             "sizes must agree or be 1 in every dim (shapes exclude the batch)", input=True)
        out.append(max(x, y))
    return tuple(out)


def _dims(axes: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """Non-batch axes -> dims of the batched tensor (checked against the rank)."""
    out = []
    for a in axes:
        if not -rank <= a < rank:
            raise ShapeError(f"axis {a} does not exist in a {rank}-d tensor (batch excluded)",
                             "axes count from 0 after the batch, or from the end (-1 is the last)")
        out.append(a % rank + 1)
    return tuple(out)


def _torch_dim(axis: int, rank: int) -> int:
    """How a forward names one axis: from the end as the text did (-1 reads at any rank),
    else counting the batch (checked against the rank)."""
    _dims((axis,), rank)
    return axis if axis < 0 else axis + 1


def _dim_text(dims: tuple[int, ...]) -> str:
    return lit(dims[0]) if len(dims) == 1 else lit(tuple(dims))


# ---- constants and elementwise arithmetic -------------------------------------------
register(OpSpec("const", "tensor", "A number inside a tensor expression.", user=False, args=(Arg("value", "float"),),
                shape=lambda a, ins: (), expr=lambda a, ins, out: lit(a["value"])))


def _arith_shape(attrs, ins):
    if len(ins) == 1:
        return ins[0]
    return broadcast(ins[0], ins[1])


register(OpSpec(
    "arith", "tensor", "Elementwise + - * / of two tensors (or a tensor and a number), broadcasting.", user=False,
    args=(Arg("op", "any"),), shape=_arith_shape,
    expr=lambda a, ins, out: "-x" if a["op"] == "neg" else f"x0 {a['op']} x1",
))


def _matmul_shape(attrs, ins):
    a, b = ins
    if len(a) < 2 or len(b) < 2 or a[-1] != b[-2]:
        raise ShapeError(f"cannot multiply {fmt_shape(a)} by {fmt_shape(b)}: the last dim of the first must be the "
                         "second-to-last of the second", input=True)
    return broadcast(a[:-2], b[:-2]) + (a[-2], b[-1])


register(OpSpec(
    "matmul", "tensor", "Matrix product of the last two dims (`a @ b`).", user=False, shape=_matmul_shape,
    macs=lambda a, ins, out: math.prod(out) * ins[0][-1], expr=lambda a, ins, out: "x0 @ x1",
))


# ---- learned tensors ------------------------------------------------------------------
def _param_shape(attrs, ins):
    shape = tuple(attrs["shape"])
    if not shape or any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in shape):
        raise ShapeError(f"`param` needs positive whole sizes, got {', '.join(map(str, shape)) or 'none'}", "e.g. `param(c, 1, 1)`")
    return shape


def _param_call(attrs, ins, out):
    shape = tuple(attrs["shape"])
    if attrs.get("std") is not None:
        return call("nn.Parameter", call("trunc_normal", *shape, std=float(attrs["std"])))
    init = float(attrs.get("init") or 0.0)
    if init == 0.0:
        return call("nn.Parameter", call("torch.zeros", *shape))
    if init == 1.0:
        return call("nn.Parameter", call("torch.ones", *shape))
    return call("nn.Parameter", call("torch.full", shape, init))


register(OpSpec(
    "param", "tensor", "A learned tensor of the given shape (zeros, `init=v`, or `std=s` truncated normal).", user=False,
    args=(Arg("shape", "any"), Arg("init", "float", 0.0), Arg("std", "float", None)), module_name="param",
    shape=_param_shape, params=lambda a, ins, out: math.prod(out), param=_param_call, expr=lambda a, ins, out: "p",
))


# ---- reductions, softmax, layout --------------------------------------------------------
REDUCTIONS = {"mean": "x.mean({dims}, keepdim={keep})", "sum": "x.sum({dims}, keepdim={keep})",
              "amax": "x.amax({dims}, keepdim={keep})", "norm2": "torch.linalg.vector_norm(x, dim={dims}, keepdim={keep})"}


def _reduce_shape(attrs, ins):
    rank = len(ins[0])
    dims = {d - 1 for d in _dims(tuple(attrs["axes"]), rank)}
    if attrs["keep"]:
        return tuple(1 if k in dims else v for k, v in enumerate(ins[0]))
    return tuple(v for k, v in enumerate(ins[0]) if k not in dims)


register(OpSpec(
    "reduce", "tensor", "mean / sum / amax / norm2 (L2 norm) over axes, keeping them as size 1 unless keep=false.", user=False,
    args=(Arg("kind", "any"), Arg("axes", "any"), Arg("keep", "bool", True)), shape=_reduce_shape,
    expr=lambda a, ins, out: REDUCTIONS[a["kind"]].format(dims=_dim_text(_dims(tuple(a["axes"]), len(ins[0]))), keep=lit(bool(a["keep"]))),
))

register(OpSpec(
    "softmax", "tensor", "Softmax along one axis.", user=False, args=(Arg("axis", "int", -1),),
    shape=lambda a, ins: (_dims((a["axis"],), len(ins[0])), ins[0])[1],
    expr=lambda a, ins, out: f"x.softmax(dim={lit(_torch_dim(a['axis'], len(ins[0])))})",
))


def _transpose_shape(attrs, ins):
    a, b = (d - 1 for d in _dims((attrs["a"], attrs["b"]), len(ins[0])))
    s = list(ins[0])
    s[a], s[b] = s[b], s[a]
    return tuple(s)


register(OpSpec(
    "transpose", "tensor", "Swap two axes.", user=False, args=(Arg("a", "int", -2), Arg("b", "int", -1)), shape=_transpose_shape,
    expr=lambda a, ins, out: "x.transpose({}, {})".format(*(_torch_dim(d, len(ins[0])) for d in (a["a"], a["b"]))),
))


def _chunk_shape(attrs, ins):
    (d,) = _dims((attrs["axis"],), len(ins[0]))
    size, n, sizes = ins[0][d - 1], attrs["parts"], attrs.get("sizes")
    s = list(ins[0])
    if sizes is not None:  # `split(x, [32, 32, 128], -1)`: parts of the given sizes
        if sum(sizes) != size:
            raise ShapeError(f"cannot split {size} into parts of {', '.join(map(str, sizes))} along axis {attrs['axis']}: "
                             f"they add up to {sum(sizes)}", input=True)
        s[d - 1] = sizes[attrs["index"]]
        return tuple(s)
    if n < 1 or size % n:
        raise ShapeError(f"cannot split {size} into {n} equal parts along axis {attrs['axis']}", input=True)
    s[d - 1] = size // n
    return tuple(s)


def _chunk_expr(attrs, ins, out):
    # one part of x.chunk(n, dim) / x.split([...], dim): the code generator writes the parts of
    # one split as `a, b = x.chunk(2, -1)` (archdsl/backends/codegen/render.py)
    dim = lit(_torch_dim(attrs["axis"], len(ins[0])))
    if attrs.get("sizes") is not None:
        return f"x.split([{', '.join(lit(v) for v in attrs['sizes'])}], {dim})[{lit(attrs['index'])}]"
    return f"x.chunk({lit(attrs['parts'])}, {dim})[{lit(attrs['index'])}]"


register(OpSpec(
    "chunk", "tensor", "Part `index` of `parts` parts along an axis: equal parts, or of the given `sizes` (`split`).", user=False,
    args=(Arg("parts", "int"), Arg("index", "int"), Arg("axis", "int", -1), Arg("sizes", "any", None)),
    shape=_chunk_shape, expr=_chunk_expr,
))


# ---- rearrange: einops notation, written as reshape / permute ---------------------------
_EINOPS_HINT = 'einops notation: axis names, `1`, groups in brackets, one `->`: "l (h d) -> h l d"'
_TOKEN = re.compile(r"\(|\)|[A-Za-z_][A-Za-z0-9_]*|1")


def _side(text: str) -> list[list[str]]:
    """`l (h d)` -> [["l"], ["h", "d"]]: the axes of one side, groups in brackets."""
    out: list[list[str]] = []
    group: list[str] | None = None
    pos = 0
    for m in _TOKEN.finditer(text):
        if text[pos:m.start()].strip():
            raise ShapeError(f"rearrange: cannot read `{text[pos:m.start()].strip()}` in `{text.strip()}`", _EINOPS_HINT)
        pos = m.end()
        tok = m.group()
        if tok == "(":
            if group is not None:
                raise ShapeError(f"rearrange: nested brackets in `{text.strip()}`", "a group is one level deep: `(h w)`")
            group = []
        elif tok == ")":
            if group is None:
                raise ShapeError(f"rearrange: unmatched `)` in `{text.strip()}`", _EINOPS_HINT)
            out.append(group)
            group = None
        elif group is not None:
            group.append(tok)
        else:
            out.append([tok])
    if text[pos:].strip():
        raise ShapeError(f"rearrange: cannot read `{text[pos:].strip()}` in `{text.strip()}`", _EINOPS_HINT)
    if group is not None:
        raise ShapeError(f"rearrange: unclosed `(` in `{text.strip()}`", _EINOPS_HINT)
    return out


def rearrange_plan(pattern: str, shape: tuple, sizes: dict) -> tuple[tuple, tuple, tuple]:
    """(flat sizes of the input, permutation, output shape) of an einops pattern over the
    non-batch axes (the batch stays first)."""
    if pattern.count("->") != 1:
        raise ShapeError(f"rearrange needs one `->`, got `{pattern}`")
    left, right = (_side(p) for p in pattern.split("->"))
    if len(left) != len(shape):
        raise ShapeError(f"rearrange `{pattern}` names {len(left)} axes, the input has {len(shape)} ({fmt_shape(shape)})", input=True)
    known = dict(sizes)
    for group, size in zip(left, shape):
        free = [a for a in group if a not in known and a != "1"]
        prod = math.prod(known[a] for a in group if a in known)
        if len(free) > 1:
            raise ShapeError(f"rearrange `{pattern}`: give the size of all but one of {', '.join(free)}")
        if free:
            if size % prod:
                raise ShapeError(f"rearrange `{pattern}`: {size} is not divisible by {prod}", input=True)
            known[free[0]] = size // prod
        elif prod != size:
            raise ShapeError(f"rearrange `{pattern}`: the axis of size {size} cannot be {' x '.join(group)} = {prod}", input=True)
    flat_left = [a for g in left for a in g if a != "1"]
    flat_right = [a for g in right for a in g if a != "1"]
    if sorted(flat_left) != sorted(flat_right) or len(set(flat_left)) != len(flat_left):
        raise ShapeError(f"rearrange `{pattern}`: both sides must name the same axes, once each")
    perm = tuple(flat_left.index(a) for a in flat_right)
    out = tuple(math.prod(known[a] for a in g if a != "1") for g in right)
    return tuple(known[a] for a in flat_left), perm, out


def _rearrange_expr(attrs, ins, out):
    """`unflatten` for the groups split, `permute`, `flatten` for the groups merged: only the
    sizes the pattern gave are written (the inferred one is -1), so the line reads at any
    size of the other axes (`x.unflatten(2, (4, -1)).permute(0, 2, 1, 3)`)."""
    pattern, sizes = attrs["pattern"], attrs["sizes"]
    flat, perm, shape = rearrange_plan(pattern, ins[0], sizes)
    left, right = (_side(p) for p in pattern.split("->"))
    if any("1" in g for g in left + right) or any(not g for g in right):
        return _reshape_expr(ins[0], flat, perm, shape)
    text = "x"
    dim = len(left)  # split from the last group back, so the earlier dims keep their numbers
    for group in reversed(left):
        if len(group) > 1:
            given = [a in sizes for a in group]
            parts = [lit(sizes[a]) if a in sizes else "-1" for a in group]
            if given.count(False) > 1:  # pragma: no cover - rearrange_plan refuses two unknown sizes
                return _reshape_expr(ins[0], flat, perm, shape)
            text += f".unflatten({dim}, ({', '.join(parts)}{',' if len(parts) == 1 else ''}))"
        dim -= 1
    if perm != tuple(range(len(perm))):
        text += f".permute(0, {', '.join(lit(p + 1) for p in perm)})"
    end = len(perm)
    for group in reversed(right):
        if len(group) > 1:
            text += f".flatten({end - len(group) + 1}, {end})"
        end -= len(group)
    return text


def _reshape_expr(in_shape, flat, perm, shape) -> str:
    text = "x"
    if tuple(flat) != tuple(in_shape):
        text += f".reshape(x.shape[0], {', '.join(lit(v) for v in flat)})"
    if perm != tuple(range(len(perm))):
        text += f".permute(0, {', '.join(lit(p + 1) for p in perm)})"
    if tuple(shape) != tuple(flat[p] for p in perm):
        text += f".reshape(x.shape[0], {', '.join(lit(v) for v in shape)})"
    return text


register(OpSpec(
    "rearrange", "tensor", "Reorder and regroup axes, in einops notation (`\"l (h d) -> h l d\"`, batch excluded).", user=False,
    args=(Arg("pattern", "any"), Arg("sizes", "any")), shape=lambda a, ins: rearrange_plan(a["pattern"], ins[0], a["sizes"])[2],
    expr=_rearrange_expr,
))


# ---- attention --------------------------------------------------------------------------
def _attention_shape(attrs, ins):
    q, k, v = ins[:3]
    if len(q) < 2 or k[-1] != q[-1] or k[:-2] != q[:-2] or v[-2] != k[-2]:
        raise ShapeError(f"attention needs q (... L x d), k (... S x d), v (... S x dv), got {fmt_shape(q)}, {fmt_shape(k)}, "
                         f"{fmt_shape(v)}", "q and k share the last dim d, k and v the second-to-last S, and the dims before", input=True)
    if len(ins) == 4:
        broadcast(ins[3], q[:-1] + (k[-2],))
    return q[:-1] + (v[-1],)


def _attention_expr(attrs, ins, out):
    names = inputs(len(ins))
    extra = f", attn_mask={names[3]}" if len(ins) == 4 else ""
    scale = f", scale={lit(float(attrs['scale']))}" if attrs.get("scale") is not None else ""
    lead = len(ins[0]) - 3  # dims before (heads, L, d), besides the batch
    if lead > 0 and (len(ins) < 4 or len(ins[3]) <= 3):
        # a 4-D batch takes the fused kernel (more dims fall back to the unfused math, about 3x
        # slower on CPU): the leading dims join the batch, the bias broadcasts over them
        q, k, v = (f"{n}.flatten(0, {lead})" for n in names[:3])
        return f"torch.unflatten(F.scaled_dot_product_attention({q}, {k}, {v}{extra}{scale}), 0, {names[0]}.shape[:{lead + 1}])"
    return f"F.scaled_dot_product_attention({names[0]}, {names[1]}, {names[2]}{extra}{scale})"


register(OpSpec(
    "attention", "tensor", "softmax(q k^T * scale + bias) v (F.scaled_dot_product_attention; scale defaults to d^-0.5).", user=False,
    args=(Arg("scale", "float", None),), shape=_attention_shape, expr=_attention_expr,
    macs=lambda a, ins, out: 2 * math.prod(out[:-1]) * ins[1][-2] * ins[0][-1],
))


# ---- relative position bias tables -------------------------------------------------------
RELPOS_KINDS = ("offset", "distance", "axial")


def relpos_table(kind: str, h: int, w: int) -> tuple[int, ...]:
    """The learned table's shape (heads excluded): one entry per relative offset or distance."""
    if kind == "offset":
        return ((2 * h - 1) * (2 * w - 1),)
    if kind == "distance":
        return (h * w,)
    return (2 * h - 1, 2 * w - 1)


def _relpos_shape(attrs, ins):
    if attrs["kind"] not in RELPOS_KINDS:
        raise ShapeError(f"relpos kind must be one of {', '.join(RELPOS_KINDS)}, got `{attrs['kind']}`",
                         'kind="offset" (Swin, CoAtNet), "distance" (EfficientFormer) or "axial" (MaxViT)')
    n = attrs["h"] * attrs["w"]
    return (attrs["heads"], n, n)


register(OpSpec(
    "relpos", "tensor",
    "A learned relative-position bias, heads x N x N for an h x w window: a table indexed by each pair's offset (Swin, "
    "CoAtNet), distance (EfficientFormer) or per-axis offsets (MaxViT).", user=False,
    args=(Arg("heads", "int"), Arg("h", "int"), Arg("w", "int"), Arg("kind", "any", "offset")), module_name="rel_pos",
    shape=_relpos_shape, params=lambda a, ins, out: a["heads"] * math.prod(relpos_table(a["kind"], a["h"], a["w"])),
    module=lambda a, ins, out: call("RelPosBias", a["heads"], a["h"], a["w"], kind=a["kind"], _defaults={"kind": "offset"}),
))
