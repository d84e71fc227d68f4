"""A test plugin with a wrong registry entry: `affine_wrong`'s `params` rule says C
parameters, its module has 2C (tests/errors/plugin_params_rule_wrong)."""

import torch
from torch import nn

from archdsl.ops import OpSpec, register
from archdsl.ops.code import call


class ChannelAffine(nn.Module):
    """x * scale + shift, one pair per channel."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.shift = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale + self.shift


register(OpSpec("affine_wrong", "norm", "Per-channel affine with a wrong params rule (a test plugin).", module_name="affine",
                example="affine_wrong", params=lambda a, ins, out: ins[0][0],
                module=lambda a, ins, out: call(ChannelAffine, ins[0][0])))
