"""The op registry (`archdsl.ops.registry`) and the layer kinds registered into it.

Importing this package registers every built-in layer kind.
"""

from archdsl.ops import activation, conv, layout, linear, norm, pool, structure  # noqa: F401  (registration)
from archdsl.ops import act_choice, squeeze_excite  # noqa: F401  (registration)
from archdsl.ops.registry import REGISTRY, Arg, OpSpec, ShapeError, get, lookup, register, suggest, user_ops

__all__ = ["REGISTRY", "Arg", "OpSpec", "ShapeError", "get", "lookup", "register", "suggest", "user_ops"]
