"""Pooling: `maxpool`, `avgpool`, `gap` / `gmp` (global), `flatten`."""

from __future__ import annotations

from archdsl.ops.code import call
from archdsl.ops.geometry import auto_padding, check_even_kernel, conv_out, fmt_shape, pair_or_int, same_is_static, same_total
from archdsl.ops.conv import non_overlapping
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _pool_geometry(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}")
    c, h, w = ins[0]
    k = attrs["kernel"]
    k = (k, k) if isinstance(k, int) else k
    s = attrs.get("stride") or k[0]
    if attrs.get("same"):  # TF "SAME": ceil(H / stride); see archdsl/ops/padding.py
        if attrs.get("p") is not None or attrs["ceil"]:
            raise ShapeError("`same=true` sets the padding: drop `p=` and `ceil=`")
        p = (same_total(h, k[0], s) // 2, same_total(w, k[1], s) // 2) if same_is_static(k, s) else (0, 0)
        return c, k, s, p, [-(-h // s), -(-w // s)]
    if attrs.get("p") is None:
        check_even_kernel(k, s, attrs["_token"])
    p = attrs["p"] if attrs.get("p") is not None else auto_padding(k, s, 1)
    p = (p, p) if isinstance(p, int) else p
    if p[0] * 2 > k[0] or p[1] * 2 > k[1]:
        raise ShapeError(f"padding {p} is more than half the kernel {k}")
    sizes = []
    for size, kk, pp in ((h, k[0], p[0]), (w, k[1], p[1])):
        if attrs["ceil"]:
            o = -(-(size + 2 * pp - kk) // s) + 1
            if (o - 1) * s >= size + pp:
                o -= 1
        else:
            o = conv_out(size, kk, s, pp, 1)
        sizes.append(o)
    if sizes[0] < 1 or sizes[1] < 1:
        raise ShapeError(f"pool {k[0]}x{k[1]} with stride {s} does not fit a {h}x{w} input", input=True)
    return c, k, s, p, sizes


def _pool_shape(attrs, ins):
    c, _, _, _, (ho, wo) = _pool_geometry(attrs, ins)
    return (c, ho, wo)


_POOL_ARGS = (Arg("p", "ints", None, "padding (default as for conv)"), Arg("ceil", "bool", False, "ceil mode"),
              Arg("same", "bool", False, "TF \"SAME\" padding, as for conv (max pools pad with -inf)"))


def _pool_module(cls, same_cls, attrs, ins, **kw):
    _, k, s, p, _ = _pool_geometry(attrs, ins)
    defaults = {"padding": 0, "ceil_mode": False, "count_include_pad": True}
    if attrs.get("same"):
        if not same_is_static(k, s):
            return call(same_cls, pair_or_int(k), stride=s, **kw, _defaults=defaults)
    return call(cls, pair_or_int(k), stride=s, padding=pair_or_int(p), ceil_mode=bool(attrs["ceil"]), **kw, _defaults=defaults)


register(OpSpec(
    "maxpool", "pool", "Max pooling; stride defaults to the kernel size.",
    args=_POOL_ARGS, size="kernel", size_required=True, size_type="kernel", strided=True,
    module_name="maxpool", example="maxpool3/2", shape=_pool_shape,
    module=lambda a, ins, out: _pool_module("nn.MaxPool2d", "MaxPool2dSame", a, ins),
    exact_stride=lambda a: non_overlapping(a, default_stride=True),
))

register(OpSpec(
    "avgpool", "pool", "Average pooling; stride defaults to the kernel size.",
    args=(*_POOL_ARGS, Arg("count_pad", "bool", True, "count padded zeros in the average")),
    size="kernel", size_required=True, size_type="kernel", strided=True,
    module_name="avgpool", example="avgpool2/2", shape=_pool_shape,
    module=lambda a, ins, out: _pool_module("nn.AvgPool2d", "AvgPool2dSame", a, ins, count_include_pad=bool(a["count_pad"])),
    exact_stride=lambda a: non_overlapping(a, default_stride=True),
))


def _global_shape(attrs, ins):
    if len(ins[0]) == 3:
        return (ins[0][0],)
    if len(ins[0]) == 2:
        return (ins[0][1],)
    raise ShapeError(f"{attrs['_token']} pools images (C x H x W) or tokens (L x C), got {fmt_shape(ins[0])}")


register(OpSpec(
    "gap", "pool", "Global average pooling: C x H x W (or L x C tokens) -> C.",
    module_name="pool", example="gap", shape=_global_shape,
    module=lambda a, ins, out: call("GlobalPool", "avg", tokens=len(ins[0]) == 2, _defaults={"tokens": False}),
))

register(OpSpec(
    "gmp", "pool", "Global max pooling: C x H x W -> C.",
    module_name="pool", example="gmp", shape=_global_shape,
    module=lambda a, ins, out: call("GlobalPool", "max", tokens=len(ins[0]) == 2, _defaults={"tokens": False}),
))


def _flatten_shape(attrs, ins):
    n = 1
    for v in ins[0]:
        n *= v
    return (n,)


register(OpSpec(
    "flatten", "structure", "Flatten everything but the batch: C x H x W -> C*H*W.",
    example="flatten", shape=_flatten_shape, expr=lambda a, ins, out: "torch.flatten(x, 1)",
))
