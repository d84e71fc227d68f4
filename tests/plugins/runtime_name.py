"""A test plugin whose layer class has the name of a class generated files define
(`GlobalPool`), so the file cannot import it under that name
(tests/errors/plugin_class_named_like_runtime)."""

import torch
from torch import nn

from archdsl.ops import OpSpec, register
from archdsl.ops.code import call


class GlobalPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - x.mean((2, 3), keepdim=True)


register(OpSpec("center_pool", "structure", "x minus its spatial mean (a test plugin).", module_name="center",
                example="center_pool", module=lambda a, ins, out: call(GlobalPool)))
