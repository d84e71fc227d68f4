"""CoaT's conv-attention (Xu et al. 2021, "Co-Scale Conv-Attentional Image Transformers", Sec. 4),
as ops on the q|k|v projection (L x 3C: queries, keys, values side by side, each head-major):

    factor_attn(heads)    Q/sqrt(d) (softmax(K)^T V): the softmax runs over the tokens of K,
                          so the cost is linear in the number of tokens
    conv_relpos(heads)    Q o DepthwiseConv2D(V): the convolutional relative position encoding
                          on the image tokens (zero for the `skip` class tokens); `windows`
                          gives [kernel, heads] pairs, each kernel for a group of heads

In CoaT one `conv_relpos` serves every block of a stage: declare it with `shared`.
`strip_cls` drops the class token between stages.
"""

from __future__ import annotations

import math


from archdsl.ops.code import call, lit
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register

_WINDOWS = ((3, 2), (5, 3), (7, 3))


def _qkv(attrs, ins) -> tuple[int, int, int]:
    """(tokens, channels C, head_dim) of an L x 3C q|k|v input, checked."""
    if len(ins[0]) != 2 or ins[0][1] % 3:
        raise ShapeError(f"{attrs['_token']} reads queries, keys and values side by side (L x 3C), got {fmt_shape(ins[0])}",
                         "project first: `fc(3*c)`")
    n, c3 = ins[0]
    c, heads = c3 // 3, attrs["heads"]
    if heads is None or heads < 1 or c % heads:
        raise ShapeError(f"{attrs['_token']}: {heads} heads do not divide {c} channels")
    return n, c, c // heads


register(OpSpec(
    "factor_attn", "attention",
    "Factorized attention (CoaT) on q|k|v (L x 3C -> L x C): Q/sqrt(d) (softmax over tokens of K)^T V.",
    args=(Arg("heads", "int", None, "number of heads", positional=True),),
    example="factor_attn(8)", shape=lambda a, ins: (ins[0][0], _qkv(a, ins)[1]),
    macs=lambda a, ins, out: 2 * _qkv(a, ins)[0] * _qkv(a, ins)[1] * _qkv(a, ins)[2],
    expr=lambda a, ins, out: f"factor_attention(x, {lit(a['heads'])})",
))


def _windows(attrs, heads: int) -> list[tuple[int, int]]:
    w = attrs["windows"]
    ok = isinstance(w, (list, tuple)) and w and all(
        isinstance(p, (list, tuple)) and len(p) == 2 and all(isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in p)
        for p in w)
    if not ok:
        raise ShapeError(f"{attrs['_token']}: `windows` must be [kernel, heads] pairs, e.g. [[3, 2], [5, 3], [7, 3]]")
    if sum(p[1] for p in w) != heads:
        raise ShapeError(f"{attrs['_token']}: the windows cover {sum(p[1] for p in w)} heads, the layer has {heads}")
    return [tuple(p) for p in w]


def _relpos_geometry(attrs, ins):
    n, c, d = _qkv(attrs, ins)
    skip = attrs["skip"]
    side = math.isqrt(max(n - skip, 0))
    if n <= skip or side * side != n - skip:
        raise ShapeError(f"{attrs['_token']}: {n} tokens are not {skip} class token(s) and a square grid")
    return n, c, d, _windows(attrs, attrs["heads"])


register(OpSpec(
    "conv_relpos", "attention",
    "Convolutional relative position encoding (CoaT) on q|k|v (L x 3C -> L x C): Q o DepthwiseConv2D(V) on the image tokens.",
    args=(Arg("heads", "int", None, "number of heads", positional=True),
          Arg("windows", "any", [list(w) for w in _WINDOWS], "[kernel, heads] pairs: a depthwise kernel per group of heads"),
          Arg("skip", "int", 1, "leading class tokens (their encoding is zero)")),
    module_name="crpe", example="conv_relpos(8)",
    shape=lambda a, ins: (ins[0][0], _relpos_geometry(a, ins)[1]),
    params=lambda a, ins, out: sum((k * k + 1) * h * _qkv(a, ins)[2] for k, h in _relpos_geometry(a, ins)[3]),
    macs=lambda a, ins, out: (ins[0][0] - a["skip"]) * sum(k * k * h * _qkv(a, ins)[2] for k, h in _relpos_geometry(a, ins)[3]),
    module=lambda a, ins, out: call("ConvRelPosEnc", _qkv(a, ins)[2], tuple(_relpos_geometry(a, ins)[3]), skip=a["skip"], _defaults={"skip": 1}),
))


def _strip_shape(attrs, ins):
    if len(ins[0]) != 2:
        raise ShapeError(f"{attrs['_token']} removes class tokens from a token sequence L x C, got {fmt_shape(ins[0])}")
    n, k = ins[0][0], attrs["n"]
    if not 0 <= k < n:
        raise ShapeError(f"{attrs['_token']}: cannot remove {k} of {n} tokens", "keep at least one token")
    return (n - k, ins[0][1])


register(OpSpec(
    "strip_cls", "structure", "Remove the leading class token(s): L x C -> (L-n) x C (CoaT, between stages).",
    args=(Arg("n", "int", 1, "how many leading tokens", positional=True),),
    example="strip_cls", shape=_strip_shape, expr=lambda a, ins, out: f"x[:, {lit(a['n'])}:]",
))
