"""Spatial-reduction attention (PVT v1/v2): `srattn(heads, sr=..)`.

Queries come from every position of the C x H x W image; keys and values from the image
shrunk by a stride-`sr` `sr x sr` conv and a LayerNorm, so attention costs N * N / sr^2.
With `sr=1` it is plain global multi-head self-attention over the positions. Tensors are
registered in timm's order (q, kv, proj, sr, norm), so timm weights load positionally.
"""

from __future__ import annotations


from archdsl.ops.code import call
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _check(attrs, ins) -> tuple[int, int, int]:
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image C x H x W, got {fmt_shape(ins[0])}")
    c, h, w = ins[0]
    heads, sr = attrs["heads"], attrs["sr"]
    if heads is None or heads < 1:
        raise ShapeError(f"{attrs['_token']} needs a positive number of heads, e.g. srattn(2, sr=4)")
    if c % heads:
        raise ShapeError(f"{heads} heads do not divide the width {c}", "choose heads so that width / heads is a whole head size", input=True)
    if sr < 1 or h < sr or w < sr:
        raise ShapeError(f"reduction ratio sr={sr} does not fit the {h}x{w} feature map", "use 1 <= sr <= H, W", input=True)
    return c, h, w


def _params(attrs, ins, out) -> int:
    c, _, _ = _check(attrs, ins)
    sr = attrs["sr"]
    n = 4 * c * c + c + (3 * c if attrs["qkv_bias"] else 0)
    return n + (c * c * sr * sr + c + 2 * c if sr > 1 else 0)


def _macs(attrs, ins, out) -> int:
    c, h, w = _check(attrs, ins)
    sr = attrs["sr"]
    n, m = h * w, (h // sr) * (w // sr)
    reduce = m * c * c * sr * sr if sr > 1 else 0
    return 2 * n * c * c + 2 * m * c * c + reduce + 2 * n * m * c


register(OpSpec(
    "srattn", "attention",
    "Spatial-reduction attention (PVT): keys/values from the image shrunk by an sr x sr stride-sr conv + LayerNorm.",
    args=(
        Arg("heads", "int", None, "number of attention heads (must divide the width)", positional=True),
        Arg("sr", "int", 1, "spatial reduction ratio of keys and values (1 = global attention)"),
        Arg("qkv_bias", "bool", True, "bias on the query and key/value projections"),
        Arg("eps", "float", 1e-5, "epsilon of the LayerNorm after the reduction"),
    ),
    module_name="attn", example="srattn(2, sr=4)",
    shape=lambda a, ins: _check(a, ins), params=_params, macs=_macs,
    module=lambda a, ins, out: call("SpatialReductionAttention", _check(a, ins)[0], a["heads"], sr=a["sr"], qkv_bias=a["qkv_bias"],
                                    eps=float(a["eps"]), _defaults={"sr": 1, "qkv_bias": True, "eps": 1e-5}),
))
