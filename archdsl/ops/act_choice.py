"""`act(kind)`: an activation chosen by a value, for tables that pick one per block.

    block ir(k, e, se, nl):  ...  dw(kernel=k) bn act(nl)      # nl = "relu" or "hswish"
"""

from __future__ import annotations

from archdsl.ops.activation import ACTIVATIONS, activation
from archdsl.ops.registry import Arg, OpSpec, ShapeError, register


def _act_shape(attrs, ins):
    if attrs["kind"] is None:
        raise ShapeError("`act` needs the activation it stands for", "e.g. act(relu), or act(nl) with a parameter nl = \"hswish\"")
    if attrs["kind"] not in ACTIVATIONS:
        raise ShapeError(f"unknown activation `{attrs['kind']}`", "one of " + ", ".join(sorted(ACTIVATIONS)))
    return ins[0]


register(OpSpec(
    "act", "act", "An activation named by its argument: `act(relu)`, `act(nl)` with nl = \"hswish\".",
    args=(Arg("kind", "act", None, "the activation: any activation token (relu, hswish, gelu_tanh, ...)", positional=True),),
    module_name="act", example="act(relu)", shape=_act_shape,
    module=lambda a, ins, out: activation(a["kind"], a.get("_inplace", False)),
))
