"""Structural ops the compiler creates: graph input, merges, layer scale, drop path."""

from __future__ import annotations

from archdsl.ops.code import call, inputs, lit
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import OpSpec, ShapeError, register

register(OpSpec("input", "structure", "The network input.", user=False, shape=lambda a, ins: tuple(a["shape"])))

register(OpSpec(
    "identity", "structure", "Pass the input through unchanged (an empty branch).",
    example="identity", expr=lambda a, ins, out: "x",
))


def _add_shape(attrs, ins):
    if attrs.get("cls"):
        return _add_to_cls_shape(ins)
    first = ins[0]
    for k, s in enumerate(ins[1:], 1):
        if s != first:
            if attrs.get("residual") and attrs.get("proj") in ("auto", "conv"):
                continue  # `insert_projections` adds a projection on the shortcut
            raise ShapeError(f"cannot add {fmt_shape(first)} and {fmt_shape(s)}")
    return first


def _add_to_cls_shape(ins):
    branch, seq = ins
    if len(seq) != 2 or branch not in ((seq[1],), (1, seq[1])):
        raise ShapeError(f"`residual(cls=true)` adds a single token (C or 1 x C) to the class token of a sequence L x C, "
                         f"got {fmt_shape(branch)} and {fmt_shape(seq)}", "end the branch with `ca(...)`, or start it with `cls`")
    return seq


def _add_expr(attrs, ins, out):
    if attrs.get("cls"):  # `residual(cls=true)`: the branch (one token) is added to token 0
        return "torch.cat((x1[:, :1] + x0.reshape(x1.shape[0], 1, -1), x1[:, 1:]), dim=1)"
    if attrs.get("_inplace"):  # into the first operand, which nothing else reads (passes/modules.py mark_inplace)
        return "x0.add_(x1)"
    return " + ".join(inputs(len(ins)))


register(OpSpec(
    "add", "structure", "Element-wise sum of branches (residual connections, `add:`).",
    user=False, shape=_add_shape, expr=_add_expr, overwritable=True, label=lambda a: "+",
))


def _cat_shape(attrs, ins):
    rest = ins[0][1:] if len(ins[0]) == 3 else ins[0][:-1]
    total = 0
    for s in ins:
        if len(s) != len(ins[0]):
            raise ShapeError(f"cannot concatenate {fmt_shape(ins[0])} and {fmt_shape(s)}")
        other = s[1:] if len(s) == 3 else s[:-1]
        if other != rest:
            raise ShapeError(f"cannot concatenate {fmt_shape(ins[0])} and {fmt_shape(s)}: sizes differ outside the channels")
        total += s[0] if len(s) == 3 else s[-1]
    return (total,) + rest if len(ins[0]) == 3 else rest + (total,)


register(OpSpec(
    "cat", "structure", "Concatenate branches along channels (`cat:`, `dense:`).",
    user=False, shape=_cat_shape,
    expr=lambda a, ins, out: f"torch.cat([{', '.join(inputs(len(ins)))}], dim={lit(a['dim'])})", overwritable=True,
    label=lambda a: "cat",
))


def _scale_expr(attrs, ins, out):
    return "x * p.reshape(1, -1, 1, 1)" if attrs["image"] else "x * p"


def _scale_channels(ins) -> int:
    return ins[0][0] if len(ins[0]) == 3 else ins[0][-1]


register(OpSpec(
    "layer_scale", "regularization", "Per-channel learned scale of a residual branch (CaiT/ConvNeXt layer scale).",
    user=False, module_name="gamma",
    params=lambda a, ins, out: _scale_channels(ins),
    param=lambda a, ins, out: call("nn.Parameter", call("torch.full", (_scale_channels(ins),), float(a["init"]))),
    expr=_scale_expr, label=lambda a: "layer scale",
    channels_last=lambda a, ins, out: "x * p" if a["image"] else None,
))

register(OpSpec(
    "drop_path", "regularization", "Stochastic depth on a residual branch (rate rises linearly over blocks).",
    user=False, module_name="drop_path", identity_at={"p": 0.0}, label=lambda a: "drop path", layout_free=True,
    module=lambda a, ins, out: call("DropPath", a["p"]),
))


def check_shape(shape) -> None:
    if any(v < 1 for v in shape):
        raise ShapeError(f"empty tensor shape {fmt_shape(shape)}")
