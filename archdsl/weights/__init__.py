"""Loading reference weights (torchvision / timm models or state dicts) into archdsl models.

`load_reference(model, reference)` pairs every parameter and batch statistic of ours with one
of the reference's by role, shape and data flow (archdsl/weights/match.py, on one traced
forward of each: archdsl/weights/trace.py), applies the reference's rules
(archdsl/reference_rules.py, keyed by the reference's name), copies, and then checks the
copy by running both models on one input (archdsl/weights/verify.py): a load that would
give other outputs stops with the first layer where the two part, and leaves the model as
it was. `load_weights` is `build(..., weights=...)`: a hub, a reference name or a file.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Callable, Mapping

import torch
from torch import nn

from archdsl.reference_rules import recomputed, refusal, reshapable, role_override, rules_for, ties_in_order
from archdsl.weights.match import Matcher, Side, WeightMappingError, matchable
from archdsl.weights.roles import is_statistic, role
from archdsl.weights.sources import construct, describe, read_state_dict, reference_names, zoo_check, zoo_entry
from archdsl.weights.trace import state_tensors, trace
from archdsl.weights.verify import Report, module_pairs, verify as run_verify

__all__ = ["WeightMapping", "WeightMappingError", "load_reference", "load_weights", "map_state_dict"]


class WeightMapping(OrderedDict):
    """Our state-dict key -> the reference's, for every tensor copied; with what was not."""

    reference: str = ""
    recomputed: list[str]  # buffers neither side copies (derived from the configuration)
    unmatched_ours: list[str]  # our tensors left as they were (strict=False only)
    unmatched_reference: list[str]  # reference tensors not used (strict=False only)
    report: Report | None = None  # the verification (None: verify=False)


def _input_shape(model: nn.Module, ref: nn.Module, given) -> tuple[int, ...]:
    if given is not None:
        return tuple(given)
    for m in (model, ref):
        cfg = getattr(m, "pretrained_cfg", None)
        if isinstance(cfg, Mapping) and cfg.get("input_size"):
            return tuple(cfg["input_size"])
    info = getattr(model, "arch_info", None)
    if isinstance(info, Mapping) and info.get("input_shape"):
        return tuple(info["input_shape"])
    raise WeightMappingError("cannot tell the model's input size: pass input_shape=(C, H, W)")


def _side(label: str, model: nn.Module, rules: list, x: torch.Tensor, reference: bool) -> tuple[Side, list[str]]:
    tensors = state_tensors(model)
    params = {n for n, _ in model.named_parameters(remove_duplicate=False)}
    derived = {n for n in tensors if (n not in params and not is_statistic(n)) or (reference and recomputed(rules, n))}
    roles = {n: r for n in tensors if reference and (r := role_override(rules, n))}
    reshape = {n for n in tensors if reference and reshapable(rules, n)}
    side = Side(label, tensors, matchable(tensors, params, derived), trace(model, x, constants=derived), roles, reshape,
                reference and ties_in_order(rules), free=set() if reference else declared_params(model) & set(tensors))
    return side, sorted(derived)


def declared_params(model: nn.Module) -> set[str]:
    """The state-dict keys of the `param` lines of `layer` definitions (`gamma = param(c, 1, 1)`):
    their names are the author's, so they say nothing of the role; the pairing reads it from
    their use instead. Known from the IR `build` attaches (`model.arch_graph`); none without it."""
    g = getattr(model, "arch_graph", None)
    if g is None:
        return set()
    return {".".join(map(str, n.module_path)) for n in g if n.op == "param" and n.module_path}


def _retrace_training(side: Side, model: nn.Module, x: torch.Tensor, derived: list[str]) -> None:
    """Trace again in training mode (batch 2, buffers and RNG restored): auxiliary heads run
    only there."""
    flags = [(m, m.training) for m in model.modules()]
    saved = {n: b.detach().clone() for n, b in model.named_buffers()}
    try:
        model.train()
        with torch.random.fork_rng():
            side.trace = trace(model, torch.cat([x, x.flip(0) + 0.5]) if x.shape[0] == 1 else x, constants=derived)
            side.first_use = side.trace.first_use
    finally:
        for m, flag in flags:
            m.training = flag
        with torch.no_grad():
            for n, b in model.named_buffers():
                b.copy_(saved[n])


def _pair(model: nn.Module, ref: nn.Module, names: list[str], input_shape, strict: bool):
    rules = rules_for(names)
    entry = zoo_entry(model)
    why = refusal(rules, entry[0] if entry else None)
    if why:
        raise WeightMappingError(f"it is not the network zoo/{entry[0]}.arch describes: {why}")
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    flags = [(m, m.training) for m in (*model.modules(), *ref.modules())]
    try:
        model.eval()
        ref.eval()
        ours, ours_derived = _side("ours", model, rules, _like(x, model), reference=False)
        try:
            theirs, ref_derived = _side("reference", ref, rules, _like(x, ref), reference=True)
        except Exception as e:  # a reference built for another input size (timm ViT's img_size) or another network
            shape = "x".join(map(str, input_shape))
            raise WeightMappingError(f"it does not run on our {shape} input ({type(e).__name__}: {e})") from e
        if any(n not in s.first_use for s in (ours, theirs) for n in s.matchable):
            _retrace_training(ours, model, _like(x, model), ours_derived)
            _retrace_training(theirs, ref, _like(x, ref), ref_derived)
    finally:
        for m, flag in flags:
            m.training = flag
    pairs = Matcher(ours, theirs, strict=strict).run()
    return pairs, ours, theirs, ours_derived + [f"reference {n}" for n in ref_derived]


def _like(x: torch.Tensor, model: nn.Module) -> torch.Tensor:
    """`x` in the dtype and on the device of the model's first floating-point parameter."""
    for p in model.parameters():
        if p.is_floating_point():
            return x.to(dtype=p.dtype, device=p.device)
    return x


def map_state_dict(reference: Mapping[str, torch.Tensor] | nn.Module, model: nn.Module, *, name: str | None = None,
                   input_shape=None, strict: bool = True) -> "OrderedDict[str, str]":
    """Our key -> the reference's key, without copying anything."""
    ref, names = _reference_module(reference, model, name)
    label = describe(names, ref)
    try:
        pairs, ours, theirs, _ = _pair(model, ref, names, _input_shape(model, ref, input_shape), strict)
    except WeightMappingError as e:
        raise WeightMappingError(f"{label}: {e}") from None
    _check_unmatched(label, pairs, ours, theirs, strict)
    return OrderedDict(pairs)


def _check_unmatched(label: str, pairs, ours: Side, theirs: Side, strict: bool) -> tuple[list[str], list[str]]:
    paired_ref = set(pairs.values())
    unmatched_ours = [n for n in ours.matchable if n not in pairs]
    unmatched_ref = [n for n in theirs.matchable if n not in paired_ref]
    if strict and (unmatched_ours or unmatched_ref):
        raise WeightMappingError(f"{label}: {_unmatched(unmatched_ours, unmatched_ref)} (strict=False loads the rest)")
    return unmatched_ours, unmatched_ref


def _reference_module(reference, model: nn.Module, name: str | None) -> tuple[nn.Module, list[str]]:
    if isinstance(reference, nn.Module):
        return reference, [name] if name else reference_names(reference)
    if not isinstance(reference, Mapping):
        raise TypeError(f"reference must be an nn.Module or a state dict, not {type(reference).__name__}")
    kwargs: dict = {}
    if name is None:
        check = zoo_check(model)
        if check is None or not check.library:
            raise WeightMappingError(
                "a state dict alone has no data flow to match against: pass the reference model "
                "(e.g. torchvision.models.resnet50()) or its name (name='tv:resnet50')")
        name, kwargs = check.params, check.kwargs
    ref = construct(name, kwargs)
    _load_exact(ref, reference, describe([name]))
    return ref, [name]


def _load_exact(module: nn.Module, sd: Mapping[str, torch.Tensor], label: str) -> None:
    result = module.load_state_dict(dict(sd), strict=False)
    missing = [k for k in result.missing_keys if role(k) != "num_batches_tracked"]
    if missing or result.unexpected_keys:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if result.unexpected_keys:
            u = result.unexpected_keys
            parts.append(f"unexpected {', '.join(u[:3])}{' ...' if len(u) > 3 else ''}")
        raise WeightMappingError(f"the state dict is not {label}'s: {'; '.join(parts)}")


def load_reference(model: nn.Module, reference: Mapping[str, torch.Tensor] | nn.Module, *, verify: bool = True,
                   strict: bool = True, name: str | None = None, input_shape=None, rtol: float | None = None) -> WeightMapping:
    """Copy a torchvision/timm model's weights (or a state dict of one) into `model`.

    Every parameter and batch statistic pairs by role, shape and data flow; with `strict`
    (the default) any tensor of either model left unpaired is an error, without it those of
    ours keep their values (a new head) and those of the reference are skipped. With
    `verify` (the default) both models then run on one fixed input (float64 copies where
    affordable): different outputs, or with `strict=False` a matched layer whose output
    differs, undo the copy and raise `WeightMappingError` naming the first layer where the
    two part. `name` ("tv:resnet50", "timm:convnext_tiny") names the reference for its
    rules, and is needed for a state dict of a model not in the zoo status table.
    Returns the key mapping (ours -> reference) with what was left out and the report."""
    ref, names = _reference_module(reference, model, name)
    label = describe(names, ref)
    shape = _input_shape(model, ref, input_shape)
    try:
        pairs, ours, theirs, derived = _pair(model, ref, names, shape, strict)
    except WeightMappingError as e:
        raise WeightMappingError(f"{label}: {e}") from None
    unmatched_ours, unmatched_ref = _check_unmatched(label, pairs, ours, theirs, strict)
    counters = _counters(pairs, ours.tensors, theirs.tensors)
    backup = {n: ours.tensors[n].detach().clone() for n in [*pairs, *counters]}
    _copy(ours.tensors, theirs.tensors, {**pairs, **counters})
    report = None
    if verify:
        mods = module_pairs(pairs, model, ref, [n for n in ours.matchable], [n for n in theirs.matchable])
        try:
            report = run_verify(model, ref, mods, shape, compare_outputs=not (unmatched_ours or unmatched_ref), rtol=rtol)
        except Exception:
            _restore(ours.tensors, backup)
            raise
        if not report.ok:
            _restore(ours.tensors, backup)
            raise WeightMappingError(f"{label}: {_refusal(report)}")
    out = WeightMapping(pairs)
    out.reference = label
    out.recomputed = derived
    out.unmatched_ours = unmatched_ours
    out.unmatched_reference = unmatched_ref
    out.report = report
    return out


def _unmatched(ours: list[str], ref: list[str]) -> str:
    parts = []
    if ours:
        parts.append(f"{len(ours)} of our tensors have no partner ({', '.join(ours[:3])}{', ...' if len(ours) > 3 else ''})")
    if ref:
        parts.append(f"{len(ref)} of the reference's have none ({', '.join(ref[:3])}{', ...' if len(ref) > 3 else ''})")
    return "; ".join(parts)


def _refusal(report: Report) -> str:
    where = ""
    if report.first_divergence is not None:
        d = report.first_divergence
        if d.ours:
            where = f"; the first layer that differs is our `{d.ours}` (the reference's `{d.reference}`, relative difference {d.error:.2g})"
        else:
            where = "; every matched layer agrees, the outputs do not: the layers are combined differently"
    elif report.modules_compared:
        where = f"; all {report.modules_compared} matched layers agree, so the difference is in unmatched computation"
    outputs = (report.problem or (f"outputs differ (relative difference {report.error:.2g}, tolerance {report.rtol:g})"
                                  if report.error is not None else "a matched layer's output differs"))
    return f"refused: the loaded model does not compute the reference's function: {outputs} on a {report.dtype} check{where}"


def _counters(pairs: Mapping[str, str], ours: Mapping[str, torch.Tensor], ref: Mapping[str, torch.Tensor]) -> dict[str, str]:
    """A batch norm's `num_batches_tracked` follows its running mean's pairing."""
    out = {}
    for o, r in pairs.items():
        if o.endswith(".running_mean") and r.endswith(".running_mean"):
            oc, rc = o[: -len("running_mean")] + "num_batches_tracked", r[: -len("running_mean")] + "num_batches_tracked"
            if oc in ours and rc in ref:
                out[oc] = rc
    return out


def _copy(ours: Mapping[str, torch.Tensor], ref: Mapping[str, torch.Tensor], pairs: Mapping[str, str]) -> None:
    with torch.no_grad():
        for o, r in pairs.items():
            dst = ours[o]
            dst.copy_(ref[r].detach().reshape(dst.shape).to(dtype=dst.dtype, device=dst.device))


def _restore(ours: Mapping[str, torch.Tensor], backup: Mapping[str, torch.Tensor]) -> None:
    with torch.no_grad():
        for n, t in backup.items():
            ours[n].copy_(t)


# -- build(..., weights=...) ---------------------------------------------------------------

HUBS = ("torchvision", "timm")


def load_weights(model: nn.Module, weights: Any, *, full: Callable[[], nn.Module] | None = None,
                 strict: bool = True) -> nn.Module:
    """`build(..., weights=W)`: W is "torchvision" or "timm" (the zoo status table's reference
    for the file and variant, with the library's published weights), "tv:NAME" / "timm:NAME"
    (that reference's published weights), a state dict, or a path to a .pth/.safetensors file
    holding either our own state dict or the reference model's (mapped through the rules).
    `full` builds the whole network when `model` is its feature extractor (features=True):
    the weights load into that and its tensors are copied over."""
    if full is not None:
        whole = load_weights(full(), weights, strict=strict)
        ours = model.state_dict()
        theirs = whole.state_dict()
        model.load_state_dict({k: theirs[k] for k in ours}, strict=True)
        return model
    if isinstance(weights, (str, os.PathLike)) and (isinstance(weights, os.PathLike) or weights not in HUBS) \
            and not str(weights).startswith(("tv:", "timm:")):
        weights = read_state_dict(weights)
    if isinstance(weights, Mapping):
        if _is_ours(model, weights):
            model.load_state_dict(dict(weights), strict=True)
            return model
        load_reference(model, weights, strict=strict)
        return model
    if not isinstance(weights, str):
        raise TypeError(f"weights must be 'torchvision', 'timm', 'tv:NAME', 'timm:NAME', a path or a state dict, not {weights!r}")
    if weights in HUBS:
        check = zoo_check(model)
        if check is None or not check.library:
            raise WeightMappingError(f"weights={weights!r}: this model has no {weights} reference in the zoo status table "
                                     "(archdsl/zoo_status.py); name one: weights='timm:NAME' or 'tv:NAME'")
        lib = "tv" if weights == "torchvision" else "timm"
        if not check.params.startswith(lib + ":"):
            raise WeightMappingError(f"weights={weights!r}: this variant's reference is {check.reference} "
                                     f"(archdsl/zoo_status.py); use weights={describe([check.params]).split()[0]!r} "
                                     "or name a reference: weights='timm:NAME' / 'tv:NAME'")
        name, kwargs = check.params, check.kwargs
    else:
        name, kwargs = weights, {}
        check = zoo_check(model)
        if check is not None and check.params == name:
            kwargs = check.kwargs
    load_reference(model, construct(name, kwargs, pretrained=True), strict=strict, name=name)
    return model


def _is_ours(model: nn.Module, sd: Mapping[str, torch.Tensor]) -> bool:
    """A checkpoint of this very model (same keys and shapes): loads as it is."""
    own = model.state_dict()
    return set(own) == set(sd) and all(tuple(own[k].shape) == tuple(sd[k].shape) for k in own)
