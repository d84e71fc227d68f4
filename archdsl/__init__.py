"""archdsl: vision architectures as short text, compiled to PyTorch.

    >>> import archdsl
    >>> model = archdsl.build("zoo/convnext.arch", variant="tiny")
    >>> model = archdsl.build("convnext_tiny")                    # a zoo model by name, from anywhere
    >>> archdsl.list_models("convnext*")[:2]
    ['convnext_base', 'convnext_large']
    >>> archdsl.summary("zoo/resnet.arch", variant="resnet50")["params"]
    25557032
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from archdsl.errors import ArchError

if TYPE_CHECKING:  # pragma: no cover - imported lazily below
    from archdsl.api import build, compile_graph, parse, render, summary, to_source
    from archdsl.api import diff
    from archdsl.catalog import list_models
    from archdsl.timm_registry import register_timm
    from archdsl.weights import load_reference, map_state_dict

__version__ = "0.1.0"
__all__ = ["ArchError", "build", "compile_graph", "diff", "list_models", "load_reference", "map_state_dict", "parse", "register_timm", "render",
           "summary", "to_source", "__version__"]

# The public functions load on first use (PEP 562), so that `import archdsl` and the CLI's
# `--help` and `fmt` do not pay for importing torch.
_LAZY = {"build": "archdsl.api", "compile_graph": "archdsl.api", "parse": "archdsl.api", "render": "archdsl.api",
         "summary": "archdsl.api", "to_source": "archdsl.api", "diff": "archdsl.api",
         "list_models": "archdsl.catalog", "register_timm": "archdsl.timm_registry", "load_reference": "archdsl.weights", "map_state_dict": "archdsl.weights"}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        from importlib.util import find_spec

        if not name.startswith("_") and find_spec(f"archdsl.{name}") is not None:
            return importlib.import_module(f"archdsl.{name}")  # a submodule: `archdsl.api`, `archdsl.backends`
        raise AttributeError(f"module 'archdsl' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
