"""Side outputs (`aux:` auxiliary classifiers) and adaptive pooling.

`aux: CHAIN` branches the chain off the current value; the end of the branch becomes an
`aux_out` node. A built network returns `(output, aux_1, aux_2, ...)` (side outputs in
data-flow order) in training mode and only the output in eval mode, when the side
branches are not run at all (GoogLeNet / Inception v3 auxiliary heads).
"""

from __future__ import annotations

from archdsl.ops.code import call
from archdsl.ops.conv import fmt_shape, pair_or_int
from archdsl.ops.registry import OpSpec, ShapeError, register

register(OpSpec(
    "aux_out", "structure", "A side output (`aux:`): returned after the main output in training mode.",
    user=False, expr=lambda a, ins, out: "x",
))


def _apool_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"{attrs['_token']} needs an image input C x H x W, got {fmt_shape(ins[0])}")
    k = attrs["size"]
    h, w = (k, k) if isinstance(k, int) else k
    return (ins[0][0], h, w)


register(OpSpec(
    "apool", "pool", "Adaptive average pooling to a fixed output size: `apool4` gives C x 4 x 4 whatever the input size.",
    size="size", size_required=True, size_type="kernel", module_name="avgpool", example="apool4",
    shape=_apool_shape,
    module=lambda a, ins, out: call("nn.AdaptiveAvgPool2d", pair_or_int(tuple(out[1:]))),
))
