"""Attention and token-mixing layers on token sequences (L x C).

    mhsa(heads)       global multi-head self-attention (ViT, DeiT)
    talking(heads)    talking-heads attention (CaiT)
    reattn(heads)     re-attention (DeepViT)
    ca(heads)         class attention: the class token attends to all tokens (CaiT, XCiT)
    xca(heads)        cross-covariance attention (XCiT)
    token_mlp0.5      token-mixing MLP, hidden = 0.5 x channels (MLP-Mixer)
    pos_fourier       XCiT's Fourier position encoding with a learned projection

MACs count the linear layers and the two attention matmuls (QK^T and AV), as papers do.
"""

from __future__ import annotations

import math

from archdsl.ops.activation import ACTIVATIONS, activation
from archdsl.ops.code import call
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register

_HEAD_ARGS = (
    Arg("heads", "int", None, "number of heads", positional=True),
    Arg("head_dim", "int", None, "width of one head (default: channels / heads)"),
    Arg("qkv_bias", "bool", True, "biases on the q, k, v projections"),
)


def _geometry(attrs, ins) -> tuple[int, int, int, int]:
    """(tokens, channels, heads, head_dim), checked."""
    if len(ins[0]) != 2:
        raise ShapeError(f"{attrs['_token']} attends over a token sequence L x C, got {fmt_shape(ins[0])}",
                         "turn the image into tokens first (`tokens` or `patch_embed`)")
    n, c = ins[0]
    heads = attrs["heads"]
    if heads is None or heads < 1:
        raise ShapeError(f"{attrs['_token']} needs a positive number of heads, e.g. mhsa(12)")
    hd = attrs.get("head_dim")
    if hd is None:
        if c % heads:
            raise ShapeError(f"{heads} heads do not divide {c} channels", "give `head_dim=` or change the heads", input=True)
        hd = c // heads
    if hd < 1:
        raise ShapeError(f"head_dim must be positive, got {hd}")
    return n, c, heads, hd


def _mhsa_params(attrs, ins, out, extra=0):
    n, c, h, hd = _geometry(attrs, ins)
    inner = h * hd
    return c * 3 * inner + (3 * inner if attrs["qkv_bias"] else 0) + inner * c + c + extra


def _mhsa_macs(attrs, ins, out):
    n, c, h, hd = _geometry(attrs, ins)
    inner = h * hd
    return n * c * 3 * inner + 2 * n * n * inner + n * inner * c


def _self_attention(name, cls, doc, extra_params, example, extra_args=()):
    register(OpSpec(
        name, "attention", doc, args=_HEAD_ARGS + extra_args, module_name="attn", example=example,
        shape=lambda a, ins: (_geometry(a, ins), ins[0])[1],
        params=lambda a, ins, out: _mhsa_params(a, ins, out, extra_params(_geometry(a, ins)[2])),
        macs=_mhsa_macs,
        module=lambda a, ins, out: call(cls, ins[0][1], *_geometry(a, ins)[2:], qkv_bias=a["qkv_bias"],
                                        **{e.name: a[e.name] for e in extra_args},
                                        _defaults={"qkv_bias": True, **{e.name: e.default for e in extra_args}}),
    ))


_self_attention("mhsa", "Attention", "Global multi-head self-attention (scaled dot product over all tokens).", lambda h: 0, "mhsa(12)")
_self_attention("talking", "TalkingHeadsAttention", "Talking-heads self-attention: heads mixed before and after the softmax (CaiT).",
                lambda h: 2 * (h * h + h), "talking(4)")
_self_attention("reattn", "ReAttention", "Re-attention: attention maps mixed across heads by a learned matrix + BatchNorm (DeepViT).",
                lambda h: h * h + h + 2 * h, "reattn(12)",
                (Arg("transform_scale", "bool", False, "scale the re-attended map by head_dim^-0.5 (DeepViT-S)"),))


def _ca_shape(attrs, ins):
    n, c, _, _ = _geometry(attrs, ins)
    return (n, c) if attrs["keep"] else (c,)


def _ca_params(attrs, ins, out):
    n, c, h, hd = _geometry(attrs, ins)
    inner = h * hd
    return 3 * (c * inner + (inner if attrs["qkv_bias"] else 0)) + inner * c + c


def _ca_macs(attrs, ins, out):
    n, c, h, hd = _geometry(attrs, ins)
    inner = h * hd
    return c * inner + 2 * n * c * inner + 2 * n * inner + inner * c


register(OpSpec(
    "ca", "attention", "Class attention: only the class token (token 0) queries all tokens; L x C -> C "
    "(add it back with `residual(cls=true)`), or with keep=true the whole sequence with token 0 replaced (XCiT).",
    args=_HEAD_ARGS + (Arg("keep", "bool", False, "return all tokens, the other tokens unchanged"),),
    module_name="attn", example="ca(4)", shape=_ca_shape, params=_ca_params, macs=_ca_macs,
    module=lambda a, ins, out: call("ClassAttention", ins[0][1], *_geometry(a, ins)[2:], qkv_bias=a["qkv_bias"], keep_patches=a["keep"],
                                    _defaults={"qkv_bias": True, "keep_patches": False}),
))


def _xca_geometry(attrs, ins):
    n, c, h, hd = _geometry(attrs, ins)
    if attrs.get("head_dim") not in (None, c // h):
        raise ShapeError("xca splits the channels into heads; head_dim cannot be set")
    return n, c, h, hd


register(OpSpec(
    "xca", "attention", "Cross-covariance attention (XCiT): attention between channels, linear in the number of tokens.",
    args=_HEAD_ARGS, module_name="attn", example="xca(4)",
    shape=lambda a, ins: (_xca_geometry(a, ins), ins[0])[1],
    params=lambda a, ins, out: _mhsa_params(a, ins, out, _geometry(a, ins)[2]),
    macs=lambda a, ins, out: (lambda n, c, h, hd: 4 * n * c * c + 2 * n * c * hd)(*_xca_geometry(a, ins)),
    module=lambda a, ins, out: call("CrossCovarianceAttention", ins[0][1], a["heads"], qkv_bias=a["qkv_bias"], _defaults={"qkv_bias": True}),
))


def _token_mlp_hidden(attrs, ins) -> int:
    if len(ins[0]) != 2:
        raise ShapeError(f"{attrs['_token']} mixes a token sequence L x C, got {fmt_shape(ins[0])}")
    if attrs["act"] not in ACTIVATIONS:
        raise ShapeError(f"unknown activation `{attrs['act']}`", "one of " + ", ".join(sorted(ACTIVATIONS)))
    if attrs["hidden"] is None and attrs["ratio"] is None:
        raise ShapeError(f"{attrs['_token']} needs a size: a ratio of the channels (`token_mlp0.5`) or `hidden=`")
    hidden = attrs["hidden"] if attrs["hidden"] is not None else int(attrs["ratio"] * ins[0][1])
    if hidden < 1:
        raise ShapeError(f"token_mlp hidden width must be positive, got {hidden}")
    return hidden


register(OpSpec(
    "token_mlp", "linear", "Token-mixing MLP (MLP-Mixer): fc1 -> act -> fc2 across tokens, shared by all channels; "
    "hidden = ratio x channels (`token_mlp0.5`) or `hidden=`.",
    args=(Arg("hidden", "int", None, "hidden width (overrides the ratio)"), Arg("act", "act", "gelu", "activation")),
    size="ratio", size_required=False, size_type="float", module_name="mlp_tokens", example="token_mlp0.5",
    shape=lambda a, ins: (_token_mlp_hidden(a, ins), ins[0])[1],
    params=lambda a, ins, out: (lambda h, n: 2 * n * h + h + n)(_token_mlp_hidden(a, ins), ins[0][0]),
    macs=lambda a, ins, out: 2 * ins[0][0] * ins[0][1] * _token_mlp_hidden(a, ins),
    module=lambda a, ins, out: call("TokenMlp", ins[0][0], _token_mlp_hidden(a, ins), activation(a["act"])),
))


def _fourier_hw(attrs, ins) -> tuple[int, int]:
    if len(ins[0]) != 2:
        raise ShapeError(f"{attrs['_token']} needs a token sequence L x C, got {fmt_shape(ins[0])}")
    side = math.isqrt(ins[0][0])
    if side * side != ins[0][0]:
        raise ShapeError(f"{ins[0][0]} tokens are not a square grid", input=True)
    return side, side


register(OpSpec(
    "pos_fourier", "structure", "XCiT position encoding: 2-D Fourier features of the token grid, 1x1-projected and added.",
    args=(Arg("hidden", "int", 32, "Fourier features per axis"),),
    module_name="pos_embed", example="pos_fourier",
    shape=lambda a, ins: (_fourier_hw(a, ins), ins[0])[1],
    params=lambda a, ins, out: 2 * a["hidden"] * ins[0][1] + ins[0][1],
    macs=lambda a, ins, out: ins[0][0] * 2 * a["hidden"] * ins[0][1],
    module=lambda a, ins, out: call("FourierPosEmbed", *_fourier_hw(a, ins), ins[0][1], hidden=a["hidden"], _defaults={"hidden": 32}),
))


def _performer_dims(attrs, ins) -> tuple[int, int, int, int]:
    if len(ins[0]) != 2:
        raise ShapeError(f"{attrs['_token']} needs a token sequence L x C, got {fmt_shape(ins[0])}")
    if attrs["out"] is None or attrs["out"] < 1:
        raise ShapeError(f"{attrs['_token']} needs a positive output width, e.g. performer(64)")
    m = int(attrs["out"] * attrs["kernel_ratio"])
    if m < 1:
        raise ShapeError("performer needs at least one random feature (raise kernel_ratio)")
    return ins[0][0], ins[0][1], attrs["out"], m


register(OpSpec(
    "performer", "attention", "T2T-ViT's token performer: single-head linear attention with random features, "
    "C -> out, the values as skip connection.",
    args=(Arg("out", "int", None, "output width", positional=True),
          Arg("kernel_ratio", "float", 0.5, "random features per output channel")),
    module_name="attn", example="performer(64)",
    shape=lambda a, ins: (lambda n, c, e, m: (n, e))(*_performer_dims(a, ins)),
    params=lambda a, ins, out: (lambda n, c, e, m: c * 3 * e + 3 * e + e * e + e + m * e)(*_performer_dims(a, ins)),
    macs=lambda a, ins, out: (lambda n, c, e, m: n * c * 3 * e + 4 * n * e * m + n * e * e)(*_performer_dims(a, ins)),
    module=lambda a, ins, out: call("TokenPerformer", ins[0][1], a["out"], _performer_dims(a, ins)[3]),
))
