"""A test plugin whose layer class is defined inside a function, so a generated file cannot
import it (tests/errors/plugin_class_not_importable)."""

import torch
from torch import nn

from archdsl.ops import OpSpec, register
from archdsl.ops.code import call


def _make() -> type:
    class Doubler(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * x

    return Doubler


Doubler = _make()
register(OpSpec("doubler_local", "structure", "2 * x, from a class made in a function (a test plugin).", module_name="doubler",
                example="doubler_local", module=lambda a, ins, out: call(Doubler)))
