"""Running generated code: `archdsl.build` executes the source `archdsl compile -o` writes.

The source of a network is compiled once per distinct text (kept in a small cache, as a
module in `sys.modules`, and registered with `linecache`, so tracebacks, `inspect`, `pickle`
and debuggers see the generated lines with their `.arch` source-map comments) and its
network class instantiated. Only
text the code generator wrote is executed: every name and number in it comes from the
checked IR through the emitters of archdsl/backends/codegen.

While a network is constructed, PyTorch's default initialisation of the layers its `init`
scheme overwrites anyway is skipped (the scheme runs at the end of the constructor), so
building costs one initialisation, not two. `features=True` wraps the built network
(archdsl/backends/features.py).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import linecache
import re
import sys
import types
from collections import OrderedDict
from typing import Any, Iterator

from torch import nn

from archdsl.backends.codegen import write_source
from archdsl.errors import ArchError
from archdsl.ir.graph import Graph

_CACHE: OrderedDict[str, types.ModuleType] = OrderedDict()
_CACHE_SIZE = 64

# layer classes whose weights each `init` scheme fully overwrites (runtime/init.py; their
# subclasses too: it tests isinstance)
OVERWRITES: dict[str, tuple[type, ...]] = {"kaiming": (nn.Conv2d,), "trunc_normal": (nn.Conv2d, nn.Linear)}
_SKIP: contextvars.ContextVar[tuple[type, ...]] = contextvars.ContextVar("archdsl_skip_default_init", default=())


def _guarded(cls: type) -> None:
    """Make `cls.reset_parameters` a no-op while this context's build skips it (the guard sits
    on the class that defines the method, and skips only instances of the classes asked for)."""
    cls = next(c for c in cls.__mro__ if "reset_parameters" in c.__dict__)
    original = cls.__dict__["reset_parameters"]
    if getattr(original, "_archdsl_guard", False):
        return

    def reset_parameters(self: nn.Module) -> None:
        skip = _SKIP.get()
        if skip and isinstance(self, skip):
            return  # left as allocated: the network's init scheme fills it next
        original(self)

    reset_parameters._archdsl_guard = True  # type: ignore[attr-defined]
    reset_parameters.__doc__ = original.__doc__
    cls.reset_parameters = reset_parameters


@contextlib.contextmanager
def skipping_default_init(classes: tuple[type, ...]) -> Iterator[None]:
    for cls in classes:
        _guarded(cls)
    token = _SKIP.set(classes)
    try:
        yield
    finally:
        _SKIP.reset(token)


def load_source(text: str, label: str) -> types.ModuleType:
    """The module object of generated source `text` (compiled once per distinct text)."""
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    module = _CACHE.get(digest)
    if module is not None:
        _CACHE.move_to_end(digest)
        return module
    filename = f"<archdsl {label} {digest}>"
    linecache.cache[filename] = (len(text), None, text.splitlines(keepends=True), filename)
    module = types.ModuleType(f"archdsl_generated_{digest}", f"Generated from {label}.")
    module.__file__ = filename
    code = compile(text, filename, "exec")  # text written by archdsl.backends.codegen alone
    exec(code, module.__dict__)  # noqa: S102
    # in sys.modules while cached, so that inspect.getsource, pickle and copy find the classes
    sys.modules[module.__name__] = module
    _CACHE[digest] = module
    while len(_CACHE) > _CACHE_SIZE:
        _, old = _CACHE.popitem(last=False)
        sys.modules.pop(old.__name__, None)
    return module


def network_class_name(text: str) -> str:
    return re.findall(r"^class (\w+)\(Network\):", text, re.MULTILINE)[-1]


def build_module(g: Graph, source: str | None = None, init: bool = True) -> nn.Module:
    """The network of `g`, built by running its generated source (`init=False`: skip the
    default initialisation of every conv and linear, for weights about to be loaded)."""
    text = write_source(g) if source is None else source
    label = g.name + (f"-{g.variant}" if g.variant else "")
    cls = getattr(load_source(text, label), network_class_name(text))
    skip = OVERWRITES.get(g.init[0], ()) if init else (nn.modules.conv._ConvNd, nn.Linear)  # all: weights are loaded next
    with skipping_default_init(skip):
        model = cls()
    check_params(model, g)
    model.arch_graph = g  # the IR it was built from: the inference passes start from it
    model.arch_info = {"name": g.name, "variant": g.variant, "params": dict(g.params), "input_shape": list(g.input_shape),
                       "source": g.source_file}
    return model


def check_params(model: nn.Module, g: Graph) -> None:
    """Every layer's module has the parameters its registry entry's `params` rule says (a
    plugin's rule is checked against the module it builds); a mismatch is located at the layer."""
    from archdsl import ops

    expected: dict[str, Any] = {}
    for node in g:
        spec = ops.get(node.op)
        if spec.owns_attribute and "_shared" not in node.attrs:
            n = spec.params(node.attrs, [g.nodes[i].shape for i in node.inputs], node.shape)
            expected[".".join(str(p) for p in node.module_path)] = [int(n), 0, node]
    for name, p in model.named_parameters():
        key = name
        while key and key not in expected:
            key = key.rpartition(".")[0]
        if key:
            expected[key][1] += p.numel()
    for want, got, node in expected.values():
        if want != got:
            raise ArchError(f"`{node.token}` ({node.op}): its `params` rule says {want:,} parameters, the module it builds has {got:,}",
                            node.span, f"the registry entry of `{node.op}` disagrees with its module: fix its `params` rule or its `module`")
