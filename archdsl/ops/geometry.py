"""Geometry of sliding windows: padding rules (the default one, TF "SAME"), output sizes,
and shape text for messages. Shared by convolutions, pools and padding layers."""

from __future__ import annotations

import math


def _pair(v) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def auto_padding(kernel, stride: int, dilation: int) -> tuple[int, int]:
    """Padding that keeps `ceil(H / stride)` for odd kernels and none for patchify (k == s).

    The rule is max(0, (d(k-1) + 2 - s) // 2); where it equals torchvision's d(k-1)//2 (odd
    kernels at strides 1 and 2) that form is used, so generated code reads as people write it.
    """
    out = []
    for k in _pair(kernel):
        rule = max(0, (dilation * (k - 1) + 2 - stride) // 2)
        usual = dilation * (k - 1) // 2
        out.append(usual if usual == rule else rule)
    return out[0], out[1]


def check_even_kernel(kernel, stride: int, what: str) -> None:
    """An even kernel at stride 1 cannot keep the size with symmetric padding (it would grow
    the map by one): the default padding rule refuses it instead of guessing a side."""
    from archdsl.ops.registry import ShapeError

    if stride == 1 and any(k % 2 == 0 and k > 1 for k in _pair(kernel)):
        raise ShapeError(f"{what}: an even kernel at stride 1 cannot keep the size with symmetric padding",
                         "give the padding (`p=0` shrinks the map by k-1) or `same=true` (TF SAME: the extra pixel bottom/right)")


def pair_or_int(v):
    """(k, k) -> k: how torch layers' arguments are usually written."""
    if isinstance(v, (tuple, list)):
        return v[0] if len(v) == 2 and v[0] == v[1] else tuple(v)
    return v


def conv_out(size: int, k: int, s: int, p: int, d: int) -> int:
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def fmt_shape(shape) -> str:
    return "x".join(str(v) for v in shape) if shape else "a scalar"


def same_total(size: int, k: int, s: int, d: int = 1) -> int:
    """Total padding of one dimension under TF "SAME"."""
    return max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)


def same_is_static(k: tuple[int, int], s: int, d: int = 1) -> bool:
    """Whether SAME padding is the same symmetric amount for every input size."""
    return s == 1 and all((d * (kk - 1)) % 2 == 0 for kk in k)
