"""Window attention (Swin): `wattn`, `wattn2` and `patch_merge`.

All three work on images (C x H x W), the core's layout; the attention modules move to
(B, H, W, C) inside, as torchvision's Swin does, and back.

- `wattn(heads, window=7, shift=0)`: Swin v1 multi-head self-attention inside
  non-overlapping window x window windows, with a learned relative position bias table;
  `shift > 0` is the shifted-window variant (cyclic shift by `shift`, with the mask that
  keeps tokens from attending across the wrapped edge, -100 as in the reference).
- `wattn2(...)`: Swin v2: cosine attention with a learned per-head logit scale, and a
  continuous position bias from a small MLP over log-spaced relative coordinates.
- `patch_merge`: concatenate each 2x2 neighbourhood into channels (C,H,W) -> (4C,H/2,W/2),
  in torchvision's order x(0,0), x(1,0), x(0,1), x(1,1) (row offset first).

The modules register their tensors in torchvision's order (parameters, then buffers,
then qkv, proj, cpb_mlp) so reference weights load positionally. Masks and biases that
depend only on the static shape are built once, as non-persistent buffers.
"""

from __future__ import annotations

from archdsl.ops.code import call
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _check(attrs, ins) -> tuple[int, int, int]:
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image C x H x W, got {fmt_shape(ins[0])}",
                         "window attention works on image-shaped tensors; drop `tokens` before it")
    c, h, w = ins[0]
    heads, window, shift = attrs["heads"], attrs["window"], attrs["shift"]
    if heads is None or heads < 1:
        raise ShapeError(f"{attrs['_token']} needs a positive number of heads, e.g. wattn(3)")
    if c % heads:
        raise ShapeError(f"{heads} heads do not divide the width {c}", "choose heads so that width / heads is a whole head size", input=True)
    if window < 1 or h % window or w % window:
        raise ShapeError(f"window {window} does not divide the {h}x{w} feature map",
                         "pick a window that divides every stage's resolution, or change the input size", input=True)
    if not 0 <= shift < window:
        raise ShapeError(f"shift {shift} must be in [0, window) = [0, {window})")
    return c, h, w


def _attn_params(attrs, ins, out) -> int:
    c, _, _ = _check(attrs, ins)
    heads, window = attrs["heads"], attrs["window"]
    n = 4 * c * c + (3 * c if attrs["qkv_bias"] else 0) + c
    if attrs.get("cosine"):
        hid = attrs["cpb_hidden"]
        return n + heads + 2 * hid + hid + hid * heads
    return n + (2 * window - 1) ** 2 * heads


def _attn_macs(attrs, ins, out) -> int:
    c, h, w = _check(attrs, ins)
    tokens, n = h * w, attrs["window"] ** 2
    macs = tokens * 4 * c * c + 2 * tokens * n * c  # qkv + proj, then q@k and attn@v per window
    if attrs.get("cosine"):
        hid = attrs["cpb_hidden"]
        macs += (2 * attrs["window"] - 1) ** 2 * (2 * hid + hid * attrs["heads"])
    return macs


def _attn_module(attrs, ins, out):
    c, h, w = _check(attrs, ins)
    return call("WindowAttention", c, heads=attrs["heads"], window=attrs["window"], shift=attrs["shift"], height=h, width=w,
                qkv_bias=attrs["qkv_bias"], cosine=bool(attrs.get("cosine")), cpb_hidden=attrs.get("cpb_hidden", 512),
                _defaults={"qkv_bias": True, "cosine": False, "cpb_hidden": 512})


_WINDOW_ARGS = (
    Arg("heads", "int", None, "number of attention heads (must divide the width)", positional=True),
    Arg("window", "int", 7, "window side in positions (must divide H and W)"),
    Arg("shift", "int", 0, "cyclic shift (window // 2 on every other block; 0 = plain windows)"),
    Arg("qkv_bias", "bool", True, "bias on the query/key/value projection"),
)

register(OpSpec(
    "wattn", "attention",
    "Swin window attention with relative position bias; `shift` > 0 gives shifted windows with the cyclic-shift mask.",
    args=_WINDOW_ARGS, module_name="attn", example="wattn(3, window=7, shift=3)",
    shape=lambda a, ins: _check(a, ins), params=_attn_params, macs=_attn_macs, module=_attn_module,
))

register(OpSpec(
    "wattn2", "attention",
    "Swin v2 window attention: cosine similarity with a learned logit scale, continuous (log-spaced, MLP) position bias.",
    args=_WINDOW_ARGS + (Arg("cpb_hidden", "int", 512, "hidden width of the position-bias MLP"),),
    module_name="attn", example="wattn2(3, window=8, shift=4)",
    shape=lambda a, ins: _check({**a, "cosine": True}, ins),
    params=lambda a, ins, out: _attn_params({**a, "cosine": True}, ins, out),
    macs=lambda a, ins, out: _attn_macs({**a, "cosine": True}, ins, out),
    module=lambda a, ins, out: _attn_module({**a, "cosine": True}, ins, out),
))


def _merge_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"`patch_merge` needs an image C x H x W, got {fmt_shape(ins[0])}")
    c, h, w = ins[0]
    if h % 2 or w % 2:
        raise ShapeError(f"`patch_merge` joins 2x2 neighbourhoods and needs an even H and W, got {h}x{w}")
    return (4 * c, h // 2, w // 2)


register(OpSpec(
    "patch_merge", "structure",
    "Swin patch merging: each 2x2 neighbourhood concatenated into channels, C x H x W -> 4C x H/2 x W/2.",
    example="patch_merge", shape=_merge_shape, expr=lambda a, ins, out: "patch_merge(x)", exact_stride=lambda a: 2,
))
