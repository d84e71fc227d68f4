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
  - `reshape`: reference tensors that may hold one of ours in another shape with the same
    number of elements and the same first dimension (a 7x7 convolution on a 7x7 map is a
    linear layer on the flattened map); the verification forward then checks it is.
  - `ties`: "order" settles pairings the structure cannot decide (two identical layers of
    one input whose outputs only their order tells apart) in the order the forwards run
    them; the verification then checks the result.
  - `refuse`: {zoo file stem: reason}: the reference is known not to compute the function of
    that zoo file; loading it there stops with the reason (into any other file, the pairing
    and the verification decide).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Rule:
    match: tuple[str, ...]
    why: str
    recomputed: tuple[str, ...] = ()
    roles: tuple[tuple[str, str], ...] = ()
    reshape: tuple[str, ...] = ()
    ties: str = ""
    refuse: dict[str, str] = field(default_factory=dict, hash=False, compare=False)


RULES: list[Rule] = [
    Rule(("timm:vgg*",),
         why="timm's VGG runs its first classifier layer as a 7x7 convolution on the 7x7 map "
             "(`pre_logits.fc1`, 4096x512x7x7) where torchvision, and zoo/vgg.arch, flatten the map "
             "into a 25088-wide linear layer: the same numbers in the same order",
         reshape=("pre_logits.fc1.weight",)),
    Rule(("timm:swinv2_*",),
         why="timm's Swin V2 is not parameterised like torchvision's swin_v2_* (zoo/swin_v2.arch's reference)",
         refuse={"swin_v2": "timm keeps separate `q_bias` and `v_bias` (the key has none) where torchvision's "
                            "Swin V2, which zoo/swin_v2.arch follows, keeps one 3C `qkv.bias` whose key third it zeroes "
                            "in the forward: the tensors do not correspond one to one"}),
    Rule(("timm:efficientformer_*",),
         why="timm's EfficientFormer averages two classifiers of the same pooled features, `head` and "
             "`head_dist` ((head(x) + head_dist(x)) / 2 in eval): nothing in the structure tells the two apart, "
             "and both it and zoo/efficientformer.arch run `head` first",
         ties="order"),
    Rule(("timm:mobilenetv3_*",),
         why="timm's MobileNetV3 normalises with BatchNorm eps 1e-5, torchvision's (zoo/mobilenet_v3.arch's "
             "reference) with eps 1e-3 (and momentum 0.01): the same tensors, another function",
         refuse={"mobilenet_v3": "its batch norms use eps=1e-5 where torchvision's MobileNetV3, which "
                                 "zoo/mobilenet_v3.arch follows, uses eps=1e-3: the same tensors give other outputs"}),
]


def rules_for(names: list[str]) -> list[Rule]:
    """The rules whose patterns match any of a reference's names."""
    return [r for r in RULES if any(fnmatchcase(n, p) for n in names for p in r.match)]


def recomputed(rules: list[Rule], key: str) -> bool:
    return any(fnmatchcase(key, p) for r in rules for p in r.recomputed)


def reshapable(rules: list[Rule], key: str) -> bool:
    return any(fnmatchcase(key, p) for r in rules for p in r.reshape)


def ties_in_order(rules: list[Rule]) -> bool:
    return any(r.ties == "order" for r in rules)


def refusal(rules: list[Rule], stem: str | None) -> str:
    """Why these references cannot load into zoo/STEM.arch ("" if nothing is known)."""
    return next((r.refuse[stem] for r in rules if stem in r.refuse), "") if stem else ""


def role_override(rules: list[Rule], key: str) -> str | None:
    for r in rules:
        for pattern, role in r.roles:
            if fnmatchcase(key, pattern):
                return role
    return None
