"""archdsl: vision architectures as short text, compiled to PyTorch.

    >>> import archdsl
    >>> model = archdsl.build("zoo/convnext.arch", variant="tiny")
    >>> archdsl.summary("zoo/resnet.arch", variant="resnet50")["params"]
    25557032
"""

from archdsl.api import build, compile_graph, parse, render, summary, to_source
from archdsl.backends.diff import diff
from archdsl.errors import ArchError
from archdsl.timm_registry import register_timm
from archdsl.weights import load_reference, map_state_dict

__version__ = "0.1.0"
__all__ = ["ArchError", "build", "compile_graph", "diff", "load_reference", "map_state_dict", "parse", "register_timm", "render",
           "summary", "to_source", "__version__"]
