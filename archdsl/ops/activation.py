"""Activations: parameter-free layers; `inplace` is decided by the compiler, not the user.

Every registered op of family "act" is an activation, usable as a token (`relu`), as an
argument that names one (`mlp4(act=gelu_tanh)`, `se(gate=hsigmoid)`, `act(nl)`), in a
plugin as much as here: `ACTIVATIONS` is a live view of the registry, and
`activation(name)` the constructor of one, from its own registry entry.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from archdsl.ops.code import Call, call
from archdsl.ops.registry import REGISTRY, OpSpec, register

# token: (torch class, description, whether it can overwrite its input)
BUILTIN: dict[str, tuple[str, str, bool]] = {
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


class _Activations(Mapping):
    """The activation tokens of the registry (ops of family "act", `act(...)` itself aside)."""

    def __getitem__(self, name: str) -> OpSpec:
        spec = REGISTRY.get(name)
        if spec is None or spec.family != "act" or name == "act" or not spec.user:
            raise KeyError(name)
        return spec

    def __iter__(self) -> Iterator[str]:
        return (n for n, s in list(REGISTRY.items()) if s.family == "act" and n != "act" and s.user)

    def __len__(self) -> int:
        return sum(1 for _ in self)


ACTIVATIONS = _Activations()


def activation(name: str, inplace: bool = False) -> Call:
    """The constructor of activation `name` (`nn.ReLU(inplace=True)`), from its registry entry."""
    return ACTIVATIONS[name].module({"_inplace": inplace}, [], ())


def _builtin(name: str):
    cls, _, can_inplace = BUILTIN[name]

    def module(attrs, ins, out) -> Call:
        if name == "gelu_tanh":
            return call(cls, approximate="tanh")
        return call(cls, inplace=True) if attrs.get("_inplace") and can_inplace else call(cls)

    return module


for _name, (_cls, _doc, _inplace) in BUILTIN.items():
    register(OpSpec(_name, "act", f"Activation: {_doc}.", module_name=_name, example=_name, module=_builtin(_name),
                    layout_free=True))
