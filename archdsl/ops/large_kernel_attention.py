"""Large-kernel attention: `lka21(d=3)` (VAN, Guo et al., 2022, Sec. 3.2).

A K x K convolution decomposed into a (2d-1) x (2d-1) depthwise conv, a ceil(K/d) x ceil(K/d)
depthwise conv with dilation d, and a 1x1 conv; the result gates the input:

    lka(x) = x * conv1(dw_dilated(dw(x)))          VAN: K = 21, d = 3 -> dw5, dw7 dilation 3

The size suffix is K (default 21; `lka(kernel=k)` computes it). Module names as in the official code: conv0,
conv_spatial, conv1 (all with a bias).
"""

from __future__ import annotations

import math


from archdsl.ops.code import call
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


DEFAULT_KERNEL = 21  # VAN's


def lka_kernels(attrs: dict) -> tuple[int, int, int]:
    """(local kernel, dilated kernel, dilation) of `lka{K}(d=...)`."""
    k = attrs["kernel"] if attrs.get("kernel") is not None else DEFAULT_KERNEL
    d = attrs["d"]
    return 2 * d - 1, math.ceil(k / d), d


def _lka_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}")
    if attrs["d"] < 1:
        raise ShapeError(f"`d` (dilation) must be positive, got {attrs['d']}", "VAN uses `lka21(d=3)`")
    local, spatial, d = lka_kernels(attrs)
    if spatial % 2 == 0:
        raise ShapeError(f"{attrs['_token']}: ceil({attrs['kernel'] or DEFAULT_KERNEL}/{d}) = {spatial} is an even dilated kernel, "
                         f"which cannot keep the size", "choose K and d with ceil(K/d) odd, e.g. `lka21(d=3)`")
    return ins[0]


def _lka_params(attrs, ins, out) -> int:
    c = ins[0][0]
    local, spatial, _ = lka_kernels(attrs)
    return c * (local * local + 1) + c * (spatial * spatial + 1) + c * c + c


def _lka_macs(attrs, ins, out) -> int:
    c, h, w = ins[0]
    local, spatial, _ = lka_kernels(attrs)
    return h * w * c * (local * local + spatial * spatial + c)


register(OpSpec(
    "lka", "attention", "Large-kernel attention (VAN): x * conv1(dw_dilated(dw(x))), a KxK kernel decomposed (`lka21(d=3)`).",
    args=(Arg("d", "int", 3, "dilation: a (2d-1)x(2d-1) depthwise conv, then ceil(K/d) x ceil(K/d) with dilation d"),),
    size="kernel", size_type="int", module_name="lka", example="lka21",
    shape=_lka_shape, params=_lka_params, macs=_lka_macs,
    module=lambda a, ins, out: call("LargeKernelAttention", ins[0][0], *lka_kernels(a)),
))
