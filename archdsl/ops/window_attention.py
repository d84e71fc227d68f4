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

import math

import torch
import torch.nn.functional as F
from torch import nn

from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def relative_position_index(window: int) -> torch.Tensor:
    """(w*w*w*w,) index into the (2w-1)^2 table of relative offsets (row-major)."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return (rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]).flatten()


def log_spaced_coords(window: int) -> torch.Tensor:
    """(1, 2w-1, 2w-1, 2) relative coordinates, scaled to [-8, 8] and log-spaced (Swin v2)."""
    r = torch.arange(-(window - 1), window, dtype=torch.float32)
    table = torch.stack(torch.meshgrid(r, r, indexing="ij")).permute(1, 2, 0).unsqueeze(0)
    table = table / (window - 1) * 8
    return torch.sign(table) * torch.log2(table.abs() + 1.0) / 3.0


def shift_mask(height: int, width: int, window: int, shift_h: int, shift_w: int) -> torch.Tensor:
    """(windows, 1, w*w, w*w) additive mask: -100 between tokens from different regions.

    The regions are torchvision's slices; with a zero shift on one axis, its last slice
    covers the whole axis, so only the other axis splits regions."""
    region = torch.zeros(height, width)
    count = 0
    for hs in (slice(0, -window), slice(-window, -shift_h), slice(-shift_h, None)):
        for ws in (slice(0, -window), slice(-window, -shift_w), slice(-shift_w, None)):
            region[hs, ws] = count
            count += 1
    region = region.view(height // window, window, width // window, window).permute(0, 2, 1, 3).reshape(-1, window * window)
    diff = region.unsqueeze(1) - region.unsqueeze(2)
    return torch.where(diff != 0, -100.0, 0.0).unsqueeze(1)


class WindowAttention(nn.Module):
    """Shifted-window multi-head self-attention on (B, C, H, W); v1 or (cosine=True) v2."""

    def __init__(self, dim: int, heads: int, window: int, shift: int, height: int, width: int,
                 qkv_bias: bool = True, proj_bias: bool = True, cosine: bool = False, cpb_hidden: int = 512):
        super().__init__()
        self.heads, self.window, self.cosine = heads, window, cosine
        # torchvision: no shift along an axis that one window covers
        self.shift = (shift if window < height else 0, shift if window < width else 0)
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        if cosine:
            self.register_buffer("relative_coords_table", log_spaced_coords(window))
            self.register_buffer("relative_position_index", relative_position_index(window))
            self.logit_scale = nn.Parameter(torch.log(10 * torch.ones(heads, 1, 1)))
            self.cpb_mlp = nn.Sequential(nn.Linear(2, cpb_hidden), nn.ReLU(inplace=True), nn.Linear(cpb_hidden, heads, bias=False))
        else:
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
            nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)
            self.register_buffer("relative_position_index", relative_position_index(window))
        mask = shift_mask(height, width, window, *self.shift) if any(self.shift) else None
        self.register_buffer("attn_mask", mask, persistent=False)

    def position_bias(self) -> torch.Tensor:
        n = self.window * self.window
        table = self.cpb_mlp(self.relative_coords_table).view(-1, self.heads) if self.cosine else self.relative_position_bias_table
        bias = table[self.relative_position_index].view(n, n, -1).permute(2, 0, 1).unsqueeze(0)
        return 16 * torch.sigmoid(bias) if self.cosine else bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        ws, heads, d = self.window, self.heads, c // self.heads
        nh, nw = h // ws, w // ws
        x = x.permute(0, 2, 3, 1)
        if any(self.shift):
            x = torch.roll(x, shifts=(-self.shift[0], -self.shift[1]), dims=(1, 2))
        x = x.reshape(b, nh, ws, nw, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b * nh * nw, ws * ws, c)
        qkv_bias = self.qkv.bias
        if self.cosine and qkv_bias is not None:  # Swin v2 keeps the key bias at zero
            qkv_bias = torch.cat((qkv_bias[:c], torch.zeros_like(qkv_bias[c:2 * c]), qkv_bias[2 * c:]))
        qkv = F.linear(x, self.qkv.weight, qkv_bias).reshape(x.shape[0], ws * ws, 3, heads, d).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        bias = self.position_bias()
        if self.attn_mask is not None:
            bias = (bias + self.attn_mask).expand(b, -1, -1, -1, -1).reshape(-1, heads, ws * ws, ws * ws)
        if self.cosine:
            scale = torch.clamp(self.logit_scale, max=math.log(100.0)).exp()
            x = F.scaled_dot_product_attention(F.normalize(q, dim=-1) * scale, F.normalize(k, dim=-1), v, attn_mask=bias, scale=1.0)
        else:
            x = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        x = self.proj(x.transpose(1, 2).reshape(-1, ws * ws, c))
        x = x.reshape(b, nh, nw, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)
        if any(self.shift):
            x = torch.roll(x, shifts=self.shift, dims=(1, 2))
        return x.permute(0, 3, 1, 2)

    def extra_repr(self) -> str:
        return f"heads={self.heads}, window={self.window}, shift={self.shift}" + (", cosine" if self.cosine else "")


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


def _attn_build(attrs, ins, out):
    c, h, w = _check(attrs, ins)
    return WindowAttention(c, attrs["heads"], attrs["window"], attrs["shift"], h, w, qkv_bias=attrs["qkv_bias"],
                           cosine=bool(attrs.get("cosine")), cpb_hidden=attrs.get("cpb_hidden", 512))


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
    shape=lambda a, ins: _check(a, ins), params=_attn_params, macs=_attn_macs, build=_attn_build,
))

register(OpSpec(
    "wattn2", "attention",
    "Swin v2 window attention: cosine similarity with a learned logit scale, continuous (log-spaced, MLP) position bias.",
    args=_WINDOW_ARGS + (Arg("cpb_hidden", "int", 512, "hidden width of the position-bias MLP"),),
    module_name="attn", example="wattn2(3, window=8, shift=4)",
    shape=lambda a, ins: _check({**a, "cosine": True}, ins),
    params=lambda a, ins, out: _attn_params({**a, "cosine": True}, ins, out),
    macs=lambda a, ins, out: _attn_macs({**a, "cosine": True}, ins, out),
    build=lambda a, ins, out: _attn_build({**a, "cosine": True}, ins, out),
))


def _merge_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"`patch_merge` needs an image C x H x W, got {fmt_shape(ins[0])}")
    c, h, w = ins[0]
    if h % 2 or w % 2:
        raise ShapeError(f"`patch_merge` joins 2x2 neighbourhoods and needs an even H and W, got {h}x{w}")
    return (4 * c, h // 2, w // 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    return torch.cat((x[..., 0::2, 0::2], x[..., 1::2, 0::2], x[..., 0::2, 1::2], x[..., 1::2, 1::2]), dim=1)


register(OpSpec(
    "patch_merge", "structure",
    "Swin patch merging: each 2x2 neighbourhood concatenated into channels, C x H x W -> 4C x H/2 x W/2.",
    example="patch_merge", shape=_merge_shape, forward=lambda a: _merge,
))
