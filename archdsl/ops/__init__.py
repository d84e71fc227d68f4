"""The op registry (`archdsl.ops.registry`) and the layer kinds registered into it.

Importing this package registers every built-in layer kind.
"""

from archdsl.ops import activation, conv, layout, linear, norm, pool, squeeze_excite, structure  # noqa: F401  (registration)
from archdsl.ops import attention, stdconv, tokens  # noqa: F401  (transformer layers)
from archdsl.ops import bottleneck_attention, pyramid_attention, window_attention  # noqa: F401  (registration)
from archdsl.ops import act_choice  # noqa: F401  (registration)
from archdsl.ops import large_kernel_attention  # noqa: F401  (registration)
from archdsl.ops import side_output  # noqa: F401  (aux: side outputs, apool)
from archdsl.ops import channels  # noqa: F401  (split:, shuffle)
from archdsl.ops import factorized_attention  # noqa: F401  (CoaT: factor_attn, conv_relpos)
from archdsl.ops import plain_detection  # noqa: F401  (ViTDet: mhsa_rel, pos_resized, deconv, outputs)
from archdsl.ops import padding  # noqa: F401  (pad, same=true)
from archdsl.ops import tensor  # noqa: F401  (primitives of `layer` bodies: param, arith, reduce, attention, ...)
from archdsl.ops.registry import REGISTRY, Arg, OpSpec, ShapeError, get, lookup, register, suggest, user_ops

__all__ = ["REGISTRY", "Arg", "OpSpec", "ShapeError", "get", "lookup", "register", "suggest", "user_ops"]
