"""Source emitters for the attention, token and channel ops (archdsl/ops/*.py).

Each archdsl helper module (`SqueezeExcite`, `Attention`, `WindowAttention`, ...) is written
as a constructor call whose arguments are read back from the built module; its class is
copied into the generated file from templates/helpers/NAME.py.j2 (plain, ruff-formatted
Python that mirrors the class in archdsl/ops, op for op, so outputs are bit-identical; the
float64 equality tests check it). Functional and parameter ops get forward expressions.

Only numbers, booleans, tuples of numbers and trusted code text reach the output here:
every value goes through `torch_source._literal`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from torch import nn

from archdsl.backends import torch_source as ts
from archdsl.backends.torch_source import REQUIRED, Call, _call, _literal
from archdsl.ops.bottleneck_attention import BottleneckAttention
from archdsl.ops.factorized_attention import ConvRelPosEnc
from archdsl.ops.large_kernel_attention import LargeKernelAttention
from archdsl.ops.padding import AvgPool2dSame, Conv2dSame, MaxPool2dSame, Pad
from archdsl.ops.plain_detection import RelPosAttention
from archdsl.ops.pyramid_attention import SpatialReductionAttention
from archdsl.ops.squeeze_excite import SqueezeExcite
from archdsl.ops.transformer_modules import (
    Attention,
    ClassAttention,
    CrossCovarianceAttention,
    FourierPosEmbed,
    PatchEmbed,
    ReAttention,
    SinCosPosEmbed,
    StdConv2d,
    TalkingHeadsAttention,
    TokenMlp,
    TokenPerformer,
    Unfold,
)
from archdsl.ops.window_attention import WindowAttention

emit = ts._emit_module


def _pair(v: Any) -> Any:
    return ts._int_or_pair(v)


# ---- modules ----------------------------------------------------------------------------
def _se(m: SqueezeExcite) -> Call:
    return _call("SqueezeExcite", m.fc1.in_channels, squeeze=(m.fc1.out_channels, REQUIRED), act=(emit(m.act), REQUIRED),
                 gate=(emit(m.gate), REQUIRED), bias=(m.fc1.bias is not None, True))


def _lka(m: LargeKernelAttention) -> Call:
    return _call("LargeKernelAttention", m.conv0.in_channels, local=(int(m.conv0.kernel_size[0]), REQUIRED),
                 spatial=(int(m.conv_spatial.kernel_size[0]), REQUIRED), dilation=(int(m.conv_spatial.dilation[0]), REQUIRED))


def _patch_embed(m: PatchEmbed) -> Call:
    p = m.proj
    return _call("PatchEmbed", p.in_channels, p.out_channels, int(p.kernel_size[0]), bias=(p.bias is not None, True))


def _attention_call(name: str, m: Attention, **extra: tuple[Any, Any]) -> Call:
    return _call(name, m.qkv.in_features, heads=(m.heads, REQUIRED), head_dim=(m.head_dim, REQUIRED),
                 qkv_bias=(m.qkv.bias is not None, True),
                 proj_bias=(m.proj.bias is not None, True), **extra)


def _reattn(m: ReAttention) -> Call:
    return _attention_call("ReAttention", m, transform_scale=(m.reatten_scale != 1.0, False))


def _class_attn(m: ClassAttention) -> Call:
    return _call("ClassAttention", m.q.in_features, heads=(m.heads, REQUIRED), head_dim=(m.q.out_features // m.heads, REQUIRED),
                 qkv_bias=(m.q.bias is not None, True), keep_patches=(bool(m.keep), False))


def _xca(m: CrossCovarianceAttention) -> Call:
    return _call("CrossCovarianceAttention", m.qkv.in_features, heads=(m.heads, REQUIRED), qkv_bias=(m.qkv.bias is not None, True))


def _token_mlp(m: TokenMlp) -> Call:
    return _call("TokenMlp", m.fc1.in_features, hidden=(m.fc1.out_features, REQUIRED), act=(emit(m.act), REQUIRED))


def _fourier(m: FourierPosEmbed) -> Call:
    return _call("FourierPosEmbed", m.h, m.w, m.token_projection.out_channels, hidden=(m.hidden, 32),
                 temperature=(float(m.temperature), 10000.0))


def _stdconv(m: StdConv2d) -> Call:
    call = ts._conv(m)
    pad = None if m.pad is None else tuple(int(v) for v in m.pad)
    return Call("StdConv2d", call.args + (("eps", float(m.eps), 1e-6), ("pad", pad, None)))


def _unfold(m: Unfold) -> Call:
    u = m.unfold
    return _call("Unfold", _pair(u.kernel_size), _pair(u.stride), _pair(u.padding))


def _performer(m: TokenPerformer) -> Call:
    return _call("TokenPerformer", m.kqv.in_features, m.emb, features=(m.m, REQUIRED))


def _sincos(m: SinCosPosEmbed, attrs: dict, ins: list) -> Call:
    n, dim = (int(v) for v in ins[0])
    return _call("SinCosPosEmbed", n, dim, skip=(int(attrs["skip"]), 0), temperature=(float(attrs["temperature"]), 10000.0))


def _window_attn(m: WindowAttention, attrs: dict, ins: list) -> Call:
    cpb = m.cpb_mlp[0].out_features if m.cosine else 512
    _, height, width = (int(v) for v in ins[0])
    return _call("WindowAttention", m.qkv.in_features, heads=(m.heads, REQUIRED), window=(m.window, REQUIRED),
                 shift=(max(m.shift), REQUIRED), height=(height, REQUIRED), width=(width, REQUIRED),
                 qkv_bias=(m.qkv.bias is not None, True), proj_bias=(m.proj.bias is not None, True),
                 cosine=(bool(m.cosine), False), cpb_hidden=(cpb, 512))


def _bot_attn(m: BottleneckAttention) -> Call:
    pos = m.pos_embed
    return _call("BottleneckAttention", m.qkv.in_channels, heads=(m.heads, REQUIRED), dim_head=(m.dim_head, REQUIRED),
                 height=(pos.height, REQUIRED), width=(pos.width, REQUIRED),
                 stride=(2 if isinstance(m.pool, nn.AvgPool2d) else 1, 1), qkv_bias=(m.qkv.bias is not None, False))


def _sra(m: SpatialReductionAttention) -> Call:
    sr = int(m.sr.kernel_size[0]) if m.sr is not None else 1
    eps = float(m.norm.eps) if m.norm is not None else 1e-5
    return _call("SpatialReductionAttention", m.q.in_features, heads=(m.heads, REQUIRED), sr=(sr, 1), qkv_bias=(m.q.bias is not None, True),
                 eps=(eps, 1e-5))


def _relpos_attn(m: RelPosAttention) -> Call:
    return _call("RelPosAttention", m.qkv.in_features, heads=(m.heads, REQUIRED), window=(m.window, REQUIRED), global_attn=(bool(m.global_attn), False),
                 qkv_bias=(m.qkv.bias is not None, True))


def _deconv(m: nn.ConvTranspose2d) -> Call:
    if any(_pair(v) != 0 for v in (m.padding, m.output_padding)) or _pair(m.dilation) != 1 or m.groups != 1:
        raise NotImplementedError("a transposed convolution with padding, dilation or groups")
    return _call("nn.ConvTranspose2d", m.in_channels, m.out_channels, _pair(m.kernel_size), stride=(_pair(m.stride), 1),
                 bias=(m.bias is not None, True))


def _conv_relpos(m: ConvRelPosEnc, attrs: dict, ins: list) -> Call:
    head_dim = int(ins[0][1]) // 3 // int(attrs["heads"])
    windows = tuple((int(k), int(h)) for k, h in attrs["windows"])
    return _call("ConvRelPosEnc", head_dim, windows, skip=(int(m.skip), 1))


def _pad(m: Pad) -> Call:
    pad = tuple(int(v) for v in m.pad)
    if m.value == 0.0:
        return _call("nn.ZeroPad2d", pad)
    return _call("nn.ConstantPad2d", pad, float(m.value))


def _same(cls: str, base: Callable[[nn.Module], Call]) -> Callable[[nn.Module], Call]:
    return lambda m: Call(cls, base(m).args)


ts.MODULE_EMITTERS.update({
    SqueezeExcite: _se,
    Pad: _pad,
    Conv2dSame: _same("Conv2dSame", ts._conv),
    MaxPool2dSame: _same("MaxPool2dSame", ts._maxpool),
    AvgPool2dSame: _same("AvgPool2dSame", ts._avgpool),
    RelPosAttention: _relpos_attn,
    nn.ConvTranspose2d: _deconv,
    LargeKernelAttention: _lka,
    PatchEmbed: _patch_embed,
    Attention: lambda m: _attention_call("Attention", m),
    TalkingHeadsAttention: lambda m: _attention_call("TalkingHeadsAttention", m),
    ReAttention: _reattn,
    ClassAttention: _class_attn,
    CrossCovarianceAttention: _xca,
    TokenMlp: _token_mlp,
    FourierPosEmbed: _fourier,
    StdConv2d: _stdconv,
    Unfold: _unfold,
    TokenPerformer: _performer,
    BottleneckAttention: _bot_attn,
    SpatialReductionAttention: _sra,
    nn.AdaptiveAvgPool2d: lambda m: _call("nn.AdaptiveAvgPool2d", _pair(m.output_size)),
})
ts.NODE_EMITTERS.update({WindowAttention: _window_attn, SinCosPosEmbed: _sincos, ConvRelPosEnc: _conv_relpos})


# ---- functional ops ---------------------------------------------------------------------
def _add(n) -> str:
    if n.attrs.get("cls"):  # `residual(cls=true)`: the branch (one token) is added to token 0
        return "torch.cat(({1}[:, :1] + {0}.reshape({1}.shape[0], 1, -1), {1}[:, 1:]), dim=1)"
    return " + ".join(f"{{{k}}}" for k in range(len(n.inputs)))


def _scale(n) -> str:
    f, skip = _literal(float(n.attrs["factor"])), int(n.attrs["skip"])
    if skip:
        return f"torch.cat(({{0}}[:, :{skip}], {{0}}[:, {skip}:] * {f}), dim=1)"
    return f"{{0}} * {f}"


def _channel_slice(n) -> str:
    # the op narrows dim 1 of the batched tensor into `parts` equal slices
    part = int(n.shape[0])
    start = int(n.attrs["index"]) * part
    return f"{{0}}[:, {start}:{start + part}]"


def _patch_grid(n) -> str:
    skip = int(n.attrs["skip"])
    return f"square_grid({{0}}[:, {skip}:])"


def _grid(n) -> str:
    """`grid`: square unless a height is given, the side computed from the tokens (as the
    op does), so blocks of several stages share one class."""
    if n.attrs.get("h") is None:
        return "square_grid({0})"
    return "{0}.transpose(1, 2).reshape({0}.shape[0], " + ", ".join(_literal(int(v)) for v in n.shape) + ")"


def _samepad(n) -> str:
    pad = tuple(int(v) for v in n.attrs["_pad"])
    value = float(n.attrs["value"])
    return f"F.pad({{0}}, {_literal(pad)}" + (f", value={_literal(value)})" if value != 0.0 else ")")


def _extra_token(at: int):
    def expr(n) -> str:
        tok = "self.{p}.expand({0}.shape[0], -1, -1)"
        if at:
            return f"torch.cat(({{0}}[:, :{at}], {tok}, {{0}}[:, {at}:]), dim=1)"
        return f"torch.cat(({tok}, {{0}}), dim=1)"

    return expr


def _pos_resized(n) -> str:
    grid, side = int(n.attrs["grid"]), math.isqrt(int(n.shape[0]))
    table = "self.{p}[:, 1:]" if n.attrs["cls"] else "self.{p}"
    if side == grid:
        return f"{{0}} + {table}"
    return f"{{0}} + resize_positions({table}, {grid}, {side})"


def _outputs(n) -> str:
    items = ", ".join(f"{{{k}}}" for k in range(len(n.inputs)))
    return f"({items},)" if len(n.inputs) == 1 else f"({items})"


ts.FUNCTIONAL_SOURCE.update({
    "pos_resized": _pos_resized,
    "outputs": _outputs,
    "aux_out": lambda n: "{0}",
    "factor_attn": lambda n: f"factor_attention({{0}}, {_literal(int(n.attrs['heads']))})",
    "strip_cls": lambda n: f"{{0}}[:, {_literal(int(n.attrs['n']))}:]",
    "add": _add,
    "shuffle": lambda n: f"channel_shuffle({{0}}, {_literal(int(n.attrs['groups']))})",
    "channel_slice": _channel_slice,
    "cls": lambda n: f"{{0}}[:, {_literal(int(n.attrs['index']))}]",
    "scale": _scale,
    "patch_merge": lambda n: "patch_merge({0})",
    "patch_grid": _patch_grid,
    "grid": _grid,
    "join_tokens": lambda n: f"torch.cat(({{1}}[:, :{int(n.attrs['skip'])}], {{0}}.flatten(2).transpose(1, 2)), dim=1)",
    "samepad": _samepad,
    "cls_token": _extra_token(0),
    "dist_token": _extra_token(1),
    "pos_embed": lambda n: "{0} + self.{p}",
    "pos_sin1d": lambda n: "{0} + self.{p}",
})


# ---- parameter ops ----------------------------------------------------------------------
def _zeros(p: nn.Parameter) -> Call:
    return _call("nn.Parameter", _call("torch.zeros", *(int(v) for v in p.shape)))


ts.PARAM_SOURCE.update({
    "cls_token": lambda n, p: _zeros(p),
    "dist_token": lambda n, p: _zeros(p),
    "pos_embed": lambda n, p: _zeros(p),
    "pos_resized": lambda n, p: _zeros(p),
    "pos_sin1d": lambda n, p: _call("nn.Parameter", _call("sinusoid_1d", *(int(v) for v in p.shape[1:])),
                                     requires_grad=(bool(p.requires_grad), True)),
})

# helper templates: name -> what it needs (imports, other helpers); dependencies first
ts.HELPERS.update({
    "split_heads": (),
    "Attention": ("F", "split_heads"),
    "TalkingHeadsAttention": ("Attention", "split_heads"),
    "ReAttention": ("Attention", "split_heads"),
    "ClassAttention": ("F", "split_heads"),
    "CrossCovarianceAttention": ("F",),
    "SqueezeExcite": (),
    "channel_shuffle": (),
    "LargeKernelAttention": (),
    "PatchEmbed": (),
    "TokenMlp": (),
    "FourierPosEmbed": ("math",),
    "StdConv2d": ("F",),
    "Unfold": (),
    "TokenPerformer": ("math",),
    "sinusoid_1d": (),
    "SinCosPosEmbed": ("math",),
    "SpatialReductionAttention": ("F",),
    "patch_merge": (),
    "WindowAttention": ("F", "math"),
    "BottleneckAttention": ("F",),
    "RelPosAttention": ("F", "math"),
    "resize_positions": ("F",),
    "square_grid": ("math",),
    "SharedRef": (),
    "SharedStage": (),
    "CellStage": (),
    "AuxStage": (),
    "ConvRelPosEnc": ("math",),
    "factor_attention": (),
    "same_padding": ("F", "math"),
    "Conv2dSame": ("same_padding",),
    "MaxPool2dSame": ("same_padding",),
    "AvgPool2dSame": ("same_padding",),
})
