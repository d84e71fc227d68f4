"""Activations. Each is parameter-free; `inplace` is decided by the compiler, not the user.

`ACTIVATIONS` maps a token to (torch class, description, whether it can run in place);
`activation(name)` is the constructor call of one (an `mlp`'s, `se`'s or `act(...)`'s).
"""

from __future__ import annotations

from archdsl.ops.code import Call, call
from archdsl.ops.registry import OpSpec, register

ACTIVATIONS: dict[str, tuple[str, str, bool]] = {
    "relu": ("nn.ReLU", "max(0, x)", True),
    "relu6": ("nn.ReLU6", "min(max(0, x), 6) (MobileNetV2)", True),
    "gelu": ("nn.GELU", "Gaussian error linear unit (exact erf form)", False),
    "gelu_tanh": ("nn.GELU", "GELU with the tanh approximation (TF/JAX ports: MaxViT, ViT)", False),
    "silu": ("nn.SiLU", "x * sigmoid(x), a.k.a. swish", True),
    "hswish": ("nn.Hardswish", "hard swish (MobileNetV3)", True),
    "hsigmoid": ("nn.Hardsigmoid", "hard sigmoid (MobileNetV3 SE gate)", True),
    "sigmoid": ("nn.Sigmoid", "logistic sigmoid", False),
    "tanh": ("nn.Tanh", "hyperbolic tangent", False),
}


def activation(name: str, inplace: bool = False) -> Call:
    """The constructor of activation `name` (`nn.ReLU(inplace=True)`)."""
    cls, _, can_inplace = ACTIVATIONS[name]
    if name == "gelu_tanh":
        return call(cls, approximate="tanh")
    return call(cls, inplace=True) if inplace and can_inplace else call(cls)


def register_activation(name: str, cls: str | type, doc: str, inplace: bool = False) -> OpSpec:
    """Make `name` an activation token, usable wherever an activation is (`act=name`)."""
    ACTIVATIONS[name] = (cls, doc, inplace)
    return register(OpSpec(
        name, "act", f"Activation: {doc}.", module_name=name, example=name,
        module=lambda a, ins, out: activation(name, a.get("_inplace", False)),
    ))


for _name, (_cls, _doc, _inplace) in list(ACTIVATIONS.items()):
    register(OpSpec(
        _name, "act", f"Activation: {_doc}.", module_name=_name, example=_name,
        module=(lambda n: lambda a, ins, out: activation(n, a.get("_inplace", False)))(_name),
    ))
