"""Per-reference rules for loading weights, next to the zoo status table (archdsl/zoo_status.py).

`archdsl.load_reference` pairs tensors by role, shape and data flow (archdsl/weights/), so
most references need no rule at all: the order in which a reference registers its layers
plays no part. A rule exists where a reference stores something the pairing cannot decide,
and says why. Rules are keyed by the REFERENCE, never by the `.arch` file's `arch NAME`:
`match` holds patterns (fnmatch) on the reference's names, `tv:NAME` for
`torchvision.models.NAME` and `timm:NAME` for `timm.create_model(NAME)`, the same spelling as
the status table's `params` column. A torchvision model passed as a module is known by every
builder of its module (`torchvision.models.resnet50()` matches `tv:resnet*`); a timm model by
its `pretrained_cfg["architecture"]`; a state dict by the name given with it.

Fields:
  - `recomputed`: reference tensors (fnmatch on state-dict keys) that are no weights: the
    network derives them from its configuration (index tables, masks), so they are neither
    paired nor copied. Buffers other than batch statistics are treated so by default.
  - `roles`: (key pattern, role) for reference tensors whose name does not say their role
    (archdsl/weights/roles.py lists the roles).
  - `refuse`: the reference is known not to compute the same function as the zoo file of
    that family; loading it stops with this reason instead of a divergence report.
"""

from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Rule:
    match: tuple[str, ...]
    why: str
    recomputed: tuple[str, ...] = ()
    roles: tuple[tuple[str, str], ...] = ()
    refuse: str = ""


RULES: list[Rule] = [
    Rule(("timm:swin_*",),
         why="timm registers a `relative_position_index` and an `attn_mask` per block; the window "
             "attention computes both from the window size and shift, as ours does",
         recomputed=("*.relative_position_index", "*.attn_mask")),
    Rule(("tv:swin_*",),
         why="torchvision stores `relative_position_index` (and v2's `relative_coords_table`) per "
             "block: derived from the window size",
         recomputed=("*.relative_position_index", "*.relative_coords_table")),
]


def rules_for(names: list[str]) -> list[Rule]:
    """The rules whose patterns match any of a reference's names."""
    return [r for r in RULES if any(fnmatchcase(n, p) for n in names for p in r.match)]


def recomputed(rules: list[Rule], key: str) -> bool:
    return any(fnmatchcase(key, p) for r in rules for p in r.recomputed)


def role_override(rules: list[Rule], key: str) -> str | None:
    for r in rules:
        for pattern, role in r.roles:
            if fnmatchcase(key, pattern):
                return role
    return None
