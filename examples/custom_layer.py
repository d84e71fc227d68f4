"""Add a layer kind to archdsl from Python: Global Response Normalization (ConvNeXt V2).

    PYTHONPATH=. python examples/custom_layer.py

One `register(OpSpec(...))` call teaches the compiler a new token, `grn`: how it changes a
shape (it does not), how many parameters it has, and the constructor call of its module.
After that the token works in any .arch text: shape checks, `archdsl.summary`,
`archdsl.build`, `archdsl.to_source` (the generated file imports `GlobalResponseNorm`
from this file's module), error messages with did-you-mean. docs/howto_custom_layer.md
walks through this file; tests/test_examples.py runs it. The same layer can be written in
`.arch` alone, without Python: see docs/howto_layer.md.
"""

from __future__ import annotations

import torch
from torch import nn

import archdsl
from archdsl.ops.code import call
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


# 1. The torch module: GRN from "ConvNeXt V2" (Woo et al., 2023), on N x C x H x W tensors.
class GlobalResponseNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.gamma = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.beta = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x):
        gx = torch.linalg.vector_norm(x, dim=(2, 3), keepdim=True)  # per-channel L2 norm over space
        nx = gx / (gx.mean(dim=1, keepdim=True) + self.eps)  # divided by its mean over channels
        return self.gamma * (x * nx) + self.beta + x


# 2. The shape rule: the input shape excludes the batch. Raise ShapeError for user mistakes;
#    the compiler reports it at the token, with file, line and column.
def grn_shape(attrs, ins):
    if len(ins[0]) != 3:
        raise ShapeError(f"`grn` needs an image (C x H x W), got {'x'.join(map(str, ins[0]))}",
                         "put it before `tokens` / after `grid`")
    return ins[0]


# 3. Register: the token name, its family and doc line, its arguments, the leaf module's
#    name, the shape / params rules, and `module`: the constructor call of the layer, which
#    generated code writes (`call(GlobalResponseNorm, 64, eps=1e-06)`; arguments equal to
#    their `_defaults` are left out). `params` must equal what the module has: every build
#    checks it.
register(OpSpec(
    "grn", "norm", "Global Response Normalization (ConvNeXt V2): x + gamma * x * N(x) + beta.",
    args=(Arg("eps", "float", 1e-6, "added to the mean of the norms"),),
    module_name="grn", example="grn",
    shape=grn_shape,
    params=lambda attrs, ins, out: 2 * ins[0][0],
    module=lambda attrs, ins, out: call(GlobalResponseNorm, ins[0][0], eps=attrs["eps"], _defaults={"eps": 1e-6}),
))

# 4. Use it: a small ConvNeXt V2-style network (GRN after the GELU of each block).
SOURCE = """
arch tiny_convnext_v2(dims=[32, 64], classes=10)
input 3x64x64
default ln(eps=1e-6)
stem conv4/4(dims[0]) ln
down ln conv2/2(c)
stage dw7 ln pw(4 * c) gelu grn pw(c) x[1, 1]
head gap ln fc(classes)
"""


def main() -> None:
    summary = archdsl.summary(SOURCE)
    model = archdsl.build(SOURCE)
    built = sum(p.numel() for p in model.parameters())
    assert built == summary["params"], (built, summary["params"])  # the params rule matches torch
    grns = [name for name, m in model.named_modules() if isinstance(m, GlobalResponseNorm)]
    assert "GlobalResponseNorm(" in archdsl.to_source(SOURCE)  # the written file constructs it too
    y = model(torch.randn(2, 3, 64, 64))
    print(f"params {summary['params']:,}  output {tuple(y.shape)}  GRN modules: {', '.join(grns)}")
    try:  # a misuse is reported like any built-in layer's
        archdsl.summary(SOURCE.replace("head gap ln", "head tokens grn gap ln"))
    except archdsl.ArchError as e:
        print(e.format())


if __name__ == "__main__":
    main()
