"""Layout changes between image tensors (C x H x W) and token sequences (L x C)."""

from __future__ import annotations

import math

from archdsl.ops.code import lit
from archdsl.ops.conv import fmt_shape
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _tokens_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"`tokens` turns an image C x H x W into H*W tokens, got {fmt_shape(ins[0])}")
    c, h, w = ins[0]
    return (h * w, c)


register(OpSpec(
    "tokens", "structure", "Image to token sequence: C x H x W -> (H*W) x C, row-major (ViT's flatten(2).transpose(1, 2)).",
    example="tokens", shape=_tokens_shape,
    expr=lambda a, ins, out: "x.flatten(2).transpose(1, 2)",
))


def _grid_hw(attrs, ins) -> tuple[int, int]:
    if len(ins[0]) != 2:
        raise ShapeError(f"`grid` turns tokens L x C back into an image, got {fmt_shape(ins[0])}")
    n = ins[0][0]
    h = attrs.get("h")
    if h is None:
        h = math.isqrt(n)
        if h * h != n:
            raise ShapeError(f"{n} tokens do not form a square grid", "give the height: grid(h=...)", input=True)
    if h < 1 or n % h:
        raise ShapeError(f"{n} tokens do not form a grid of height {h}", input=True)
    return h, n // h


def _grid_shape(attrs, ins):
    h, w = _grid_hw(attrs, ins)
    return (ins[0][1], h, w)


def _grid_expr(attrs, ins, out):
    """Square unless a height is given, the side computed from the tokens at run time, so
    the blocks of several stages share one class."""
    if attrs.get("h") is None:
        return "square_grid(x)"
    return f"x.transpose(1, 2).reshape(x.shape[0], {', '.join(lit(v) for v in out)})"


register(OpSpec(
    "grid", "structure", "Token sequence to image: L x C -> C x H x W (square unless `h` is given).",
    args=(Arg("h", "int", None, "grid height (default: square)"),),
    example="grid", shape=_grid_shape, expr=_grid_expr,
))
