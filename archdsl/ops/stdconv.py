"""Weight-standardized convolution `stdconv` (BiT, ViT-hybrid backbones) and TF-style `samepad`.

TF 'SAME' padding can be asymmetric (stride 2: one more pixel right/bottom). Shapes are
static in archdsl, so the amounts are fixed at build time from the known input size.
"""

from __future__ import annotations

from archdsl.ops.code import Call, lit
from archdsl.ops.conv import _CONV_ARGS, _pair, conv_call, conv_macs, conv_params, conv_shape, fmt_shape, non_overlapping
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def same_padding(size: int, k: int, s: int, d: int = 1) -> tuple[int, int]:
    """(before, after) padding of TensorFlow's 'SAME' for one spatial axis."""
    total = max((-(-size // s) - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _image(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}")
    return ins[0]


def _tf_pad(attrs, ins, kernel) -> tuple[int, int, int, int]:
    _, h, w = _image(attrs, ins)
    (kh, kw), s, d = _pair(kernel), attrs.get("stride") or 1, attrs.get("d", 1)
    top, bottom = same_padding(h, kh, s, d)
    left, right = same_padding(w, kw, s, d)
    return left, right, top, bottom


def _ws_attrs(attrs, ins):
    if not attrs["same"]:
        return attrs
    l, r, t, b = _tf_pad(attrs, ins, attrs["kernel"])
    return {**attrs, "p": 0, "_pad": (l, r, t, b), "same": False}  # padded here, not by conv's `same`


def _ws_shape(attrs, ins):
    a = _ws_attrs(attrs, ins)
    if "_pad" in a:
        c, h, w = ins[0]
        l, r, t, b = a["_pad"]
        return conv_shape(a, [(c, h + t + b, w + l + r)])
    return conv_shape(a, ins)


def _ws_module(attrs, ins, out):
    from archdsl.ops.conv import auto_padding

    a = _ws_attrs(attrs, ins)
    k = _pair(a["kernel"])
    pad = a.get("_pad")
    p = 0 if pad else (a["p"] if a["p"] is not None else auto_padding(k, a["stride"] or 1, a.get("d", 1)))
    conv = conv_call("StdConv2d", ins[0][0], out[0], k, a["stride"] or 1, p, a["d"], a["g"], bool(a["bias"]))
    pad = tuple(pad) if pad and any(pad) else None
    return Call(conv.func, conv.args + (("eps", a["eps"], 1e-6), ("pad", pad, None)))


register(OpSpec(
    "stdconv", "conv", "Weight-standardized 2-D convolution (each filter normalized to zero mean, unit variance).",
    args=tuple(a for a in _CONV_ARGS if a.name != "same") + (Arg("eps", "float", 1e-6, "epsilon of the standardization"),
                       Arg("same", "bool", False, "TensorFlow 'SAME' padding (asymmetric when strided)")),
    size="kernel", size_required=True, size_type="kernel", strided=True,
    module_name="conv", width_default="out", example="stdconv3(64)",
    shape=_ws_shape,
    params=lambda a, ins, out: conv_params(a, ins, out),
    macs=lambda a, ins, out: conv_macs(a, ins, out),
    module=_ws_module, overwritable=True, exact_stride=non_overlapping,
))


def _samepad_shape(attrs, ins):
    c, h, w = _image(attrs, ins)
    l, r, t, b = _tf_pad(attrs, ins, attrs["kernel"])
    return (c, h + t + b, w + l + r)


def _samepad_expr(attrs, ins, out):
    pad, value = lit(tuple(int(v) for v in _tf_pad(attrs, ins, attrs["kernel"]))), float(attrs["value"])
    return f"F.pad(x, {pad}, value={lit(value)})" if value != 0.0 else f"F.pad(x, {pad})"


register(OpSpec(
    "samepad", "structure", "Zero-pad as TensorFlow's 'SAME' would for a k x k window with this stride "
    "(put it before a pool or conv with p=0).",
    args=(Arg("value", "float", 0.0, "fill value"),),
    size="kernel", size_required=True, size_type="kernel", strided=True, example="samepad3/2",
    shape=_samepad_shape,
    expr=_samepad_expr,
))

__all__ = ["same_padding"]
