"""Convolutions: `conv`, `dw` (depthwise), `pw` (pointwise)."""

from __future__ import annotations

from archdsl.ops.code import call
from archdsl.ops.geometry import _pair, auto_padding, check_even_kernel, conv_out, fmt_shape, pair_or_int, same_is_static, same_total
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _conv_geometry(attrs: dict, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}",
                         "convolutions run before `gap`/`flatten` or on image-shaped tensors")
    c, h, w = ins[0]
    kh, kw = _pair(attrs["kernel"])
    s, d = attrs.get("stride") or 1, attrs.get("d", 1)
    if attrs.get("same"):  # TF "SAME": ceil(H / stride); see archdsl/ops/padding.py
        if attrs.get("p") is not None:
            raise ShapeError("give either `p=` or `same=true`, not both")
        ph, pw = (same_total(h, kh, s, d) // 2, same_total(w, kw, s, d) // 2) if same_is_static((kh, kw), s, d) else (0, 0)
        ho, wo = -(-h // s), -(-w // s)
        return c, (kh, kw), s, (ph, pw), d, ho, wo
    if attrs.get("p") is None:
        check_even_kernel((kh, kw), s, attrs["_token"])
    p = attrs["p"] if attrs.get("p") is not None else auto_padding((kh, kw), s, d)
    ph, pw = _pair(p)
    ho, wo = conv_out(h, kh, s, ph, d), conv_out(w, kw, s, pw, d)
    if ho < 1 or wo < 1:
        raise ShapeError(f"kernel {kh}x{kw} with stride {s} does not fit a {h}x{w} input",
                         "use a larger input (--input) or fewer downsampling steps", input=True)
    return c, (kh, kw), s, (ph, pw), d, ho, wo


def conv_shape(attrs: dict, ins) -> tuple:
    c, _, _, _, _, ho, wo = _conv_geometry(attrs, ins)
    out = attrs["out"] if attrs.get("out") is not None else c
    if attrs.get("ratio") is not None:  # a fraction of the input channels wins over the implicit width
        if not 0 < attrs["ratio"]:
            raise ShapeError(f"`ratio` must be positive, got {attrs['ratio']:g}")
        out = int(attrs["ratio"] * c)
    g = attrs["g"]
    for k, v in (("g", g), ("out", out)):
        if v < 1:
            raise ShapeError(f"`{k}` must be positive, got {v}")
    if c % g or out % g:
        raise ShapeError(f"groups g={g} must divide both the input channels ({c}) and the output channels ({out})", input=True)
    return (out, ho, wo)


def conv_params(attrs, ins, out) -> int:
    kh, kw = _pair(attrs["kernel"])
    return out[0] * (ins[0][0] // attrs["g"]) * kh * kw + (out[0] if attrs["bias"] else 0)


def conv_macs(attrs, ins, out) -> int:
    kh, kw = _pair(attrs["kernel"])
    return out[0] * out[1] * out[2] * (ins[0][0] // attrs["g"]) * kh * kw


CONV_DEFAULTS = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True}


def conv_call(cls, cin, cout, kernel, stride=1, padding=0, dilation=1, groups=1, bias=True):
    """`nn.Conv2d(cin, cout, kernel_size=k, ...)`, arguments at their defaults left out."""
    return call(cls, cin, cout, kernel_size=pair_or_int(kernel), stride=pair_or_int(stride), padding=pair_or_int(padding),
                dilation=pair_or_int(dilation), groups=groups, bias=bias, _defaults=CONV_DEFAULTS)


def conv_module(attrs, ins, out):
    _, k, s, p, d, _, _ = _conv_geometry(attrs, ins)
    cls = "nn.Conv2d"
    if attrs.get("same"):
        cls = "nn.Conv2d" if same_is_static(k, s, d) else "Conv2dSame"
    return conv_call(cls, ins[0][0], out[0], k, s, p, d, attrs["g"], bool(attrs["bias"]))


_CONV_ARGS = (
    Arg("out", "int", None, "output channels (default: the block width `c`, else the input channels)", positional=True),
    Arg("g", "int", 1, "groups"),
    Arg("p", "ints", None, "padding (default: keep ceil(H/stride); 0 when kernel == stride)"),
    Arg("d", "int", 1, "dilation"),
    Arg("bias", "bool", None, "add a bias (default: yes, unless a `bn` follows)"),
    Arg("same", "bool", False, "TF \"SAME\" padding: output ceil(H/stride), extra pixel bottom/right (instead of `p`)"),
    Arg("ratio", "float", None, "output channels = floor(ratio x input channels), e.g. DenseNet's compression 0.5"),
)

def non_overlapping(attrs: dict, default_stride: bool = False) -> int:
    """kernel == stride > 1 with no padding (patchify): that stride, else 1."""
    k = attrs.get("kernel")
    if not isinstance(k, int) or attrs.get("ceil") or attrs.get("same"):
        return 1  # ceil mode and TF "SAME" padding cover the last rows: nothing is dropped
    s = attrs.get("stride") or (k if default_stride else 1)
    p = attrs.get("p")
    if p is None:
        p = auto_padding(k, s, attrs.get("d", 1))[0]
    return s if (k == s and s > 1 and p in (0, (0, 0))) else 1


register(OpSpec(
    "conv", "conv", "2-D convolution with a k x k (or kh x kw) kernel.",
    args=_CONV_ARGS, size="kernel", size_required=True, size_type="kernel", strided=True,
    module_name="conv", width_default="out", example="conv3/2(64)",
    shape=conv_shape, params=conv_params, macs=conv_macs, module=conv_module, exact_stride=non_overlapping, overwritable=True,
))


def _dw_attrs(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}")
    c = ins[0][0]
    return {**attrs, "g": c, "out": c * attrs["m"]}


register(OpSpec(
    "dw", "conv", "Depthwise convolution: one k x k filter per channel (groups = channels).",
    args=(Arg("m", "int", 1, "channel multiplier"), *_CONV_ARGS[2:-1]),
    size="kernel", size_required=True, size_type="kernel", strided=True, module_name="dwconv", example="dw7",
    shape=lambda a, ins: conv_shape(_dw_attrs(a, ins), ins),
    params=lambda a, ins, out: conv_params(_dw_attrs(a, ins), ins, out),
    macs=lambda a, ins, out: conv_macs(_dw_attrs(a, ins), ins, out),
    module=lambda a, ins, out: conv_module(_dw_attrs(a, ins), ins, out), overwritable=True,
))

register(OpSpec(
    "pw", "conv", "Pointwise (1x1) convolution; same as `conv1`.",
    args=_CONV_ARGS, strided=True, module_name="pwconv", width_default="out", example="pw(256)",
    shape=lambda a, ins: conv_shape({**a, "kernel": 1}, ins),
    params=lambda a, ins, out: conv_params({**a, "kernel": 1}, ins, out),
    macs=lambda a, ins, out: conv_macs({**a, "kernel": 1}, ins, out),
    module=lambda a, ins, out: conv_module({**a, "kernel": 1}, ins, out), overwritable=True,
))

__all__ = ["auto_padding", "conv_call", "conv_module", "conv_out", "fmt_shape", "pair_or_int"]
