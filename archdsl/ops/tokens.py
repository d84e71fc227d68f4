"""Token-sequence ops of vision transformers: patch embedding, class / distillation tokens,
position embeddings, picking a token for the head, and a constant scale.

Shapes: images are C x H x W, token sequences L x C (batch excluded).
"""

from __future__ import annotations

import math

from archdsl.ops.code import call, lit
from archdsl.ops.conv import fmt_shape, pair_or_int
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _need_tokens(attrs, ins, what: str = "") -> tuple[int, int]:
    if len(ins[0]) != 2:
        raise ShapeError(f"{attrs['_token']} needs a token sequence L x C, got {fmt_shape(ins[0])}",
                         what or "turn an image into tokens first with `tokens` or `patch_embed`")
    return ins[0]


def _patch_geometry(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image C x H x W, got {fmt_shape(ins[0])}")
    c, h, w = ins[0]
    p = attrs["size"]
    if p is None or p < 1:
        raise ShapeError(f"{attrs['_token']} needs a positive patch size, e.g. patch_embed(768, 16)")
    if attrs["out"] is None or attrs["out"] < 1:
        raise ShapeError(f"{attrs['_token']} needs a positive embedding width, e.g. patch_embed(768, 16)")
    if h < p or w < p:
        raise ShapeError(f"patch size {p} does not fit a {h}x{w} input", "use a larger input or smaller patches", input=True)
    return c, p, (h // p) * (w // p)


def _patch_shape(attrs, ins):
    _, _, n = _patch_geometry(attrs, ins)
    return (n, attrs["out"])


register(OpSpec(
    "patch_embed", "conv", "Patchify: a p x p conv with stride p, flattened to (H/p*W/p) tokens x out (ViT's PatchEmbed).",
    args=(Arg("out", "int", None, "embedding width", positional=True), Arg("size", "int", 16, "patch size", positional=True),
          Arg("bias", "bool", True, "conv bias")),
    module_name="patch_embed", width_default="out", example="patch_embed(768, 16)", shape=_patch_shape,
    params=lambda a, ins, out: a["out"] * ins[0][0] * a["size"] ** 2 + (a["out"] if a["bias"] else 0),
    macs=lambda a, ins, out: out[0] * a["out"] * ins[0][0] * a["size"] ** 2,
    module=lambda a, ins, out: call("PatchEmbed", ins[0][0], a["out"], a["size"], bias=a["bias"], _defaults={"bias": True}),
    exact_stride=lambda a: int(a.get("size") or 1), overwritable=True,
))


def _extra_token(name: str, at: int, doc: str) -> None:
    def shape(attrs, ins):
        n, c = _need_tokens(attrs, ins)
        if at > n:
            raise ShapeError(f"{attrs['_token']} goes after the class token, but there are only {n} tokens", "write `cls_token` first", input=True)
        return (n + 1, c)

    def expr(attrs, ins, out):
        tok = "p.expand(x.shape[0], -1, -1)"
        return f"torch.cat((x[:, :{at}], {tok}, x[:, {at}:]), dim=1)" if at else f"torch.cat(({tok}, x), dim=1)"

    register(OpSpec(
        name, "structure", doc, module_name=name, example=name, shape=shape,
        params=lambda a, ins, out: ins[0][-1],
        param=lambda a, ins, out: call("nn.Parameter", call("torch.zeros", 1, 1, ins[0][-1])),
        expr=expr,
    ))


_extra_token("cls_token", 0, "Prepend a learned class token: L x C -> (L+1) x C.")
_extra_token("dist_token", 1, "Insert a learned distillation token after the class token (DeiT): L x C -> (L+1) x C.")


register(OpSpec(
    "pos_embed", "structure", "Add a learned position embedding (one vector per token, class tokens included).",
    module_name="pos_embed", example="pos_embed",
    shape=lambda a, ins: _need_tokens(a, ins), params=lambda a, ins, out: ins[0][0] * ins[0][1],
    param=lambda a, ins, out: call("nn.Parameter", call("trunc_normal", 1, *ins[0], std=0.02)), expr=lambda a, ins, out: "x + p",
))


def _sincos_shape(attrs, ins):
    n, c = _need_tokens(attrs, ins)
    if c % 4:
        raise ShapeError(f"2-D sin-cos position embedding needs a width divisible by 4, got {c}")
    return (n, c)


register(OpSpec(
    "pos_sincos", "structure", "Add a fixed 2-D sine-cosine position embedding (MAE/ViT-C style); `skip` leading tokens get none.",
    args=(Arg("skip", "int", 0, "leading tokens without a position (class tokens)"),
          Arg("temperature", "float", 10000.0, "frequency base")),
    module_name="pos_embed", example="pos_sincos", shape=_sincos_shape,
    module=lambda a, ins, out: call("SinCosPosEmbed", ins[0][0], ins[0][1], skip=a["skip"], temperature=float(a["temperature"]),
                                    _defaults={"skip": 0, "temperature": 10000.0}),
))


def _pick_shape(attrs, ins):
    n, c = _need_tokens(attrs, ins, "an image has no class token: pool it with `gap`, or make tokens first")
    if not 0 <= attrs["index"] < n:
        raise ShapeError(f"token index {attrs['index']} out of range for {n} tokens", input=True)
    return (c,)


register(OpSpec(
    "cls", "pool", "Take one token for the head (the class token by default): L x C -> C.",
    args=(Arg("index", "int", 0, "which token (1 = DeiT's distillation token)", positional=True),),
    example="cls", shape=_pick_shape, expr=lambda a, ins, out: f"x[:, {lit(a['index'])}]",
))

def _scale_shape(attrs, ins):
    if attrs["skip"] and len(ins[0]) != 2:
        raise ShapeError(f"`skip` applies to token sequences L x C, got {fmt_shape(ins[0])}")
    return ins[0]


def _scale_expr(attrs, ins, out):
    f, skip = lit(float(attrs["factor"])), lit(attrs["skip"])
    if attrs["skip"]:
        return f"torch.cat((x[:, :{skip}], x[:, {skip}:] * {f}), dim=1)"
    return f"x * {f}"


register(OpSpec(
    "scale", "structure", "Multiply by a constant (0.5 averages two heads); `skip` leading tokens stay as they are.",
    args=(Arg("factor", "float", 1.0, "the constant", positional=True),
          Arg("skip", "int", 0, "leading tokens left unscaled")),
    example="scale(0.5)", shape=_scale_shape, expr=_scale_expr,
))


# `patches:` (LocalViT): the body runs on the patch tokens laid out as an image; the first
# `skip` tokens (class tokens) bypass it and are put back in front afterwards.
def _patch_grid_shape(attrs, ins):
    n, c = _need_tokens(attrs, ins, "`patches:` works on token sequences")
    skip = attrs["skip"]
    if not isinstance(skip, int) or isinstance(skip, bool) or not 0 <= skip < n:
        raise ShapeError(f"`patches(skip=...)` must be a whole number below the {n} tokens, got {skip}")
    side = math.isqrt(n - skip)
    if side * side != n - skip:
        raise ShapeError(f"{n - skip} patch tokens (after skipping {skip}) do not form a square grid", input=True)
    return (c, side, side)


def _join_shape(attrs, ins):
    image, seq = ins
    if len(image) != 3 or image[0] != seq[1]:
        raise ShapeError(f"`patches:` must end with an image of {seq[1]} channels, got {fmt_shape(image)}",
                         f"the patch tokens go back next to the class token, so end the body at width {seq[1]}, e.g. pw({seq[1]})")
    return (attrs["skip"] + image[1] * image[2], seq[1])


register(OpSpec("patch_grid", "structure", "Patch tokens (after `skip` class tokens) as a C x H x W image.", user=False,
                shape=_patch_grid_shape, expr=lambda a, ins, out: f"square_grid(x[:, {lit(a['skip'])}:])"))
register(OpSpec("join_tokens", "structure", "Class tokens of the second input, then the image's positions as tokens.", user=False,
                shape=_join_shape,
                expr=lambda a, ins, out: f"torch.cat((x1[:, :{lit(a['skip'])}], x0.flatten(2).transpose(1, 2)), dim=1)"))


def _unfold_geometry(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} splits an image C x H x W, got {fmt_shape(ins[0])}", "`grid` turns tokens back into an image")
    c, h, w = ins[0]
    kh, kw = (attrs["kernel"], attrs["kernel"]) if isinstance(attrs["kernel"], int) else attrs["kernel"]
    s = attrs.get("stride") or 1
    p = attrs["p"] if attrs["p"] is not None else 0
    ph, pw = (p, p) if isinstance(p, int) else p
    ho, wo = (h + 2 * ph - kh) // s + 1, (w + 2 * pw - kw) // s + 1
    if ho < 1 or wo < 1:
        raise ShapeError(f"window {kh}x{kw} with stride {s} does not fit a {h}x{w} input", input=True)
    return (kh, kw), s, (ph, pw), (ho * wo, c * kh * kw)


register(OpSpec(
    "unfold", "structure", "Soft split (T2T-ViT): overlapping k x k windows, each flattened into a token of C*k*k values.",
    args=(Arg("p", "ints", None, "padding (default 0)"),),
    size="kernel", size_required=True, size_type="kernel", strided=True, module_name="soft_split", example="unfold7/4(p=2)",
    shape=lambda a, ins: _unfold_geometry(a, ins)[3],
    module=lambda a, ins, out: call("Unfold", *(pair_or_int(v) for v in _unfold_geometry(a, ins)[:3])),
))


register(OpSpec(
    "pos_sin1d", "structure", "Add the fixed 1-D sinusoid table of the original Transformer (a frozen parameter, as T2T-ViT keeps it).",
    module_name="pos_embed", example="pos_sin1d",
    shape=lambda a, ins: _need_tokens(a, ins), params=lambda a, ins, out: ins[0][0] * ins[0][1],
    param=lambda a, ins, out: call("nn.Parameter", call("sinusoid_1d", *ins[0]), requires_grad=False),
    expr=lambda a, ins, out: "x + p",
))
