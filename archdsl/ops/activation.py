"""Activations. Each is parameter-free; `inplace` is decided by the compiler, not the user."""

from __future__ import annotations

from torch import nn

from archdsl.ops.registry import OpSpec, register

ACTIVATIONS = {
    "relu": (nn.ReLU, "max(0, x)", True),
    "relu6": (nn.ReLU6, "min(max(0, x), 6) (MobileNetV2)", True),
    "gelu": (nn.GELU, "Gaussian error linear unit (exact erf form)", False),
    "silu": (nn.SiLU, "x * sigmoid(x), a.k.a. swish", True),
    "hswish": (nn.Hardswish, "hard swish (MobileNetV3)", True),
    "hsigmoid": (nn.Hardsigmoid, "hard sigmoid (MobileNetV3 SE gate)", True),
    "sigmoid": (nn.Sigmoid, "logistic sigmoid", False),
    "tanh": (nn.Tanh, "hyperbolic tangent", False),
}


def make_activation(name: str, inplace: bool = False) -> nn.Module:
    cls, _, can_inplace = ACTIVATIONS[name]
    return cls(inplace=True) if inplace and can_inplace else cls()


for _name, (_cls, _doc, _inplace) in ACTIVATIONS.items():
    register(OpSpec(
        _name, "act", f"Activation: {_doc}.", module_name=_name, example=_name,
        build=(lambda n: lambda a, ins, out: make_activation(n, a.get("_inplace", False)))(_name),
    ))
