"""The one registry of layer kinds.

An `OpSpec` is everything the compiler knows about one kind of layer: the token that
names it, its arguments, how it changes a shape, what it costs (parameters and
multiply-accumulates), and the layer at the level of source code: the constructor of its
module (`module`), or its learned tensor (`param`), and its forward expression (`expr`).
The code generator prints those, and `archdsl.build` runs what it prints, so registering
one `OpSpec` (in archdsl, or from a user's plugin) makes a layer work in every command.
This package is a leaf: it imports no backend and no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable

from archdsl.errors import did_you_mean

Shape = tuple[int, ...]


class ShapeError(Exception):
    """Raised by shape rules; the compiler turns it into an ArchError at the node's token."""

    def __init__(self, message: str, hint: str | None = None, *, input: bool = False):
        super().__init__(message)
        self.message = message
        self.hint = hint
        # `input=True`: the complaint is about the incoming shape, so the message is
        # completed with where that shape came from (the layer that made it).
        self.input = input


@dataclass(frozen=True)
class Arg:
    name: str
    type: str  # int | float | bool | act | any | ints (int or tuple of ints)
    default: Any = None
    doc: str = ""
    positional: bool = False


@dataclass
class OpSpec:
    name: str  # token base: `conv` in `conv7/2`
    family: str  # conv | norm | act | pool | linear | attention | structure | regularization
    doc: str
    args: tuple[Arg, ...] = ()
    size: str | None = None  # the attribute a numeric suffix sets: `kernel` in conv7
    size_required: bool = False
    size_type: str = "int"  # int | float | kernel (7 or 1x7)
    strided: bool = False
    module_name: str | None = None  # leaf module name; None for parameter-free functional ops
    width_default: str | None = None  # argument that defaults to the enclosing width `c`
    example: str = ""
    user: bool = True  # a token users write (structural ops are created by the compiler)
    shape: Callable[[dict, list[Shape]], Shape] = lambda attrs, ins: ins[0]
    params: Callable[[dict, list[Shape], Shape], int] = lambda attrs, ins, out: 0
    macs: Callable[[dict, list[Shape], Shape], int] = lambda attrs, ins, out: 0
    # The layer in source: `module(attrs, in_shapes, out_shape)` is the constructor `Call` of
    # its nn.Module (forward: `self.NAME(x)`), or `param(...)` the `Call` making its learned
    # tensor (`nn.Parameter(torch.zeros(...))`), and `expr(attrs, in_shapes, out_shape)` a
    # forward expression over the inputs `x` (or `x0`, `x1`, ...) and, for a parameter op,
    # the tensor `p` (archdsl.ops.code). An op with neither module nor param is functional.
    module: Callable[[dict, list[Shape], Shape], Any] | None = None
    param: Callable[[dict, list[Shape], Shape], Any] | None = None
    expr: Callable[[dict, list[Shape], Shape], str] | None = None
    # attribute values at which the layer computes the identity (drop_path at p=0): a class
    # whose instances lack the layer writes it with these values instead
    identity_at: dict[str, Any] | None = None
    label: Callable[[dict], str] | None = None  # the diagram's text for a node (default: its token)
    # the stride of a non-overlapping downsampling (kernel == stride, no padding), which
    # drops what its stride does not cover: the input-size check multiplies these
    exact_stride: Callable[[dict], int] | None = None
    # on a (C, H, W) map: the same layer run on the map laid out channels-last, (N, H, W, C), as
    # its constructor `Call` (a module op) or forward template (a parameter op); None where it
    # has none. Generated code runs a chain of two or more such layers between one permute in
    # and one out (timm's ConvNeXt block: norm, mlp and layer scale on NHWC) rather than each
    # layer permuting on its own (archdsl/backends/codegen/channels_last.py).
    channels_last: Callable[[dict, list[Shape], Shape], Any] | None = None
    layout_free: bool = False  # elementwise over its one input: the same code on either layout (activations, dropout)
    overwritable: bool = False  # an activation right after it may overwrite its output in place
    absorbs_bias: bool = False  # a conv right before it needs no bias of its own (BatchNorm)
    arg_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.arg_names = tuple(a.name for a in self.args)
        if self.param is not None and self.expr is None:
            raise ValueError(f"op `{self.name}`: a parameter op needs an `expr` that reads its tensor `p`")

    @property
    def owns_attribute(self) -> bool:
        """Whether the layer is a module or tensor of its group (`self.conv`, `self.gamma`)."""
        return self.module is not None or self.param is not None

    def arg(self, name: str) -> Arg | None:
        return next((a for a in self.args if a.name == name), None)

    @property
    def positional(self) -> list[Arg]:
        return [a for a in self.args if a.positional]


REGISTRY: dict[str, OpSpec] = {}


def register(spec: OpSpec) -> OpSpec:
    if spec.name in REGISTRY:
        raise ValueError(f"op `{spec.name}` registered twice")
    REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> OpSpec:
    return REGISTRY[name]


ENTRY_POINT_GROUP = "archdsl.ops"
_entry_points_loaded = False


def load_entry_points() -> list[str]:
    """Import the layer plugins of installed packages (entry-point group `archdsl.ops`: a
    module, or a function called with no arguments, that registers OpSpecs), once per
    process, the first time a token is not found. Returns the names loaded."""
    global _entry_points_loaded
    if _entry_points_loaded:
        return []
    _entry_points_loaded = True
    from importlib.metadata import entry_points

    loaded = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        target = ep.load()  # a module registers its ops as it is imported
        if callable(target) and not isinstance(target, type):
            target()  # a function registers them when called
        loaded.append(ep.name)
    return loaded


_SUFFIX = re.compile(r"^([a-z_]*[a-z_])(\d+x\d+|\d+(?:\.\d+)?)$")


def lookup(word: str) -> tuple[OpSpec, Any] | None:
    """Split a layer word into (spec, size): `conv7` -> (conv, 7), `se0.25` -> (se, 0.25).

    An exact registered name wins (`relu6` is its own op, not relu with size 6). A word no
    op has makes the installed plugins load once (`load_entry_points`), then looks again.
    """
    found = _lookup(word)
    if found is None and not _entry_points_loaded and load_entry_points():
        found = _lookup(word)
    return found


def _lookup(word: str) -> tuple[OpSpec, Any] | None:
    spec = REGISTRY.get(word)
    if spec is not None and spec.user:
        return spec, None
    m = _SUFFIX.match(word)
    if not m:
        return None
    spec = REGISTRY.get(m.group(1))
    if spec is None or not spec.user or spec.size is None:
        return None
    text = m.group(2)
    if "x" in text:
        if spec.size_type != "kernel":
            return None
        h, w = (int(t) for t in text.split("x"))
        return spec, (h, w)
    if "." in text:
        if spec.size_type != "float":
            return None
        return spec, float(text)
    return spec, (float(text) if spec.size_type == "float" else int(text))


def suggest(word: str) -> str | None:
    """A did-you-mean hint for an unknown layer word."""
    names = [s.name for s in REGISTRY.values() if s.user]
    m = _SUFFIX.match(word)
    if m and m.group(1) in REGISTRY and REGISTRY[m.group(1)].size is None:
        return f"`{m.group(1)}` takes no size suffix"
    candidates = set(names)
    if m:  # keep the user's size: dw8 -> dw7? no: suggest bases with the same suffix
        candidates |= {s.name + m.group(2) for s in REGISTRY.values() if s.user and s.size}
    for s in REGISTRY.values():
        if s.user and s.example:
            candidates.add(s.example.split("(")[0].split("/")[0])
    close = did_you_mean(word, candidates)
    if close is None:  # `lnorm` -> `ln`, `relu_` -> `relu`: a known token that starts the word
        prefixes = sorted((n for n in names if len(n) >= 2 and word.startswith(n)), key=len, reverse=True)
        if prefixes:
            return f"did you mean `{prefixes[0]}`?"
    return close


def user_ops() -> list[OpSpec]:
    return [s for s in REGISTRY.values() if s.user]
