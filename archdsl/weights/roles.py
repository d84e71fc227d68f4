"""What a state tensor is for, from its name: the role two tensors must share to be paired.

Implementations name the same tensor differently (`gamma`, `layer_scale`, `ls1.gamma`,
`layer_scale1.scale`; `cls_token`, `class_token`; `pos_embed`, `pos_embedding`), but the
last name of a state-dict key still says its role. Two tensors pair only if their roles
are equal and their shapes agree up to size-1 dimensions (a 1x1 convolution's weight
`(O, I, 1, 1)` holds a linear layer's `(O, I)`; a layer scale `(C,)` one of `(C, 1, 1)`).
A norm's `weight` therefore never takes a layer scale's `gamma` or a batch norm's
`running_var`, whatever their shapes.
"""

from __future__ import annotations

import re

import torch

# local name (the key's last component) -> role; matched in order, first hit wins
_ROLES = [
    (r"weight|in_proj_weight|[qkv]_proj_weight", "weight"),
    (r"bias|in_proj_bias", "bias"),
    (r"running_mean", "running_mean"),
    (r"running_var", "running_var"),
    (r"num_batches_tracked", "num_batches_tracked"),
    (r"gamma|layer_scale|scale|ls", "scale"),  # `ls1`: timm ResMLP's layer scales
    (r"cls_token|class_token|dist_token|dist_tokens|reg_token|reg_tokens", "token"),
    (r"pos_embed(ding)?(_\w+)?|absolute_pos_embed|pos_emb", "position"),
    (r"relative_position_bias_table|rel_pos_[hw]|attention_biases", "relative_position"),
    (r"logit_scale", "logit_scale"),
    (r"temperature", "temperature"),
]
_COMPILED = [(re.compile(rf"(?:{p})(?:_?\d+)?$"), role) for p, role in _ROLES]  # `gamma_1`, `cls_token4`


def role(name: str) -> str:
    """`stages.0.blocks.1.norm.weight` -> `weight`; `blocks.3.ls1.gamma` -> `scale`; an
    unknown name keeps its own last component (`other:lambda_`): it pairs only with a tensor
    named the same."""
    local = name.rsplit(".", 1)[-1]
    for pattern, r in _COMPILED:
        if pattern.match(local):
            return r
    return f"other:{local}"


def is_statistic(name: str) -> bool:
    """A buffer learned from data (batch-norm statistics): copied like a parameter."""
    local = name.rsplit(".", 1)[-1]
    return local.startswith("running_") or local == "num_batches_tracked"


def squeezed(shape: torch.Size | tuple) -> tuple[int, ...]:
    return tuple(d for d in shape if d != 1)


def kind(name: str, t: torch.Tensor) -> tuple:
    """What must agree for two tensors to pair: role and shape without size-1 dimensions."""
    return role(name), squeezed(t.shape)
