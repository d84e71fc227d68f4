"""Where reference weights come from: names, the zoo status table, hubs and local files.

  - `reference_names(module)`: what a reference model is called (`tv:resnet50`-style names,
    the status table's spelling), for rules and messages;
  - `zoo_check(model)`: the status-table entry of a model built from a zoo file;
  - `construct(name, kwargs, pretrained)`: the reference model itself, random
    (`pretrained=False`) or with the library's published weights (torchvision
    `weights="DEFAULT"`, timm `pretrained=True`: these download through the library's hub);
  - `read_state_dict(path)`: a `.pth`/`.pt`/`.bin` (torch.load, weights only) or
    `.safetensors` file.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from archdsl.weights.match import WeightMappingError

LIBRARIES = {"tv": "torchvision", "timm": "timm"}


def reference_names(ref: nn.Module) -> list[str]:
    """`["timm:swin_tiny_patch4_window7_224"]` for a timm model; for a torchvision model
    every builder defined in its module (`tv:resnet18`, ..., `tv:wide_resnet101_2`): an
    instance does not say which builder made it. Else the class path."""
    cfg = getattr(ref, "pretrained_cfg", None)
    module = type(ref).__module__
    if module.startswith("timm.") and isinstance(cfg, Mapping) and cfg.get("architecture"):
        return [f"timm:{cfg['architecture']}"]
    if module.startswith("torchvision.models"):
        import torchvision

        names = [n for n in torchvision.models.list_models(module=torchvision.models)
                 if torchvision.models.get_model_builder(n).__module__ == module]
        if names:
            return [f"tv:{n}" for n in names]
    return [f"{module}.{type(ref).__qualname__}"]


def describe(names: list[str], ref: nn.Module | None = None) -> str:
    """A short label for messages: `timm swin_tiny_patch4_window7_224`, `torchvision ResNet`."""
    if not names:
        return "the reference"
    lib, _, name = names[0].partition(":")
    if lib in LIBRARIES:
        if len(names) > 1:
            return f"{LIBRARIES[lib]} {type(ref).__name__ if ref is not None else name}"
        return f"{LIBRARIES[lib]} {name}"
    return names[0]


def zoo_entry(model: nn.Module) -> tuple[str, str | None] | None:
    """(stem, variant) of a model built from `zoo/STEM.arch` (known by its source path, never
    by its `arch NAME`), or None."""
    info = getattr(model, "arch_info", None)
    if not isinstance(info, Mapping) or not info.get("source"):
        return None
    source = Path(str(info["source"]))
    try:
        from archdsl.catalog import zoo_files

        if source.resolve() not in {p.resolve() for p in zoo_files()}:
            return None
    except OSError:  # pragma: no cover - an unreadable path
        return None
    return source.stem, info.get("variant")


def zoo_check(model: nn.Module):
    """The status-table `Check` of a model built from a zoo file, or None."""
    from archdsl.zoo_status import status

    entry = zoo_entry(model)
    return status(*entry) if entry else None


def construct(name: str, kwargs: Mapping[str, Any] | None = None, pretrained: bool = False) -> nn.Module:
    """`tv:NAME` / `timm:NAME` -> the reference model (eval mode). With `pretrained`, the
    library loads its published weights (downloading them through its hub if not cached)."""
    lib, _, model = name.partition(":")
    kwargs = dict(kwargs or {})
    if lib == "tv":
        import torchvision

        try:
            builder = torchvision.models.get_model_builder(model)
        except ValueError as e:
            raise WeightMappingError(f"torchvision has no model `{model}`") from e
        if pretrained:
            kwargs["weights"] = "DEFAULT"
        with _fetching(name, pretrained):
            return builder(**kwargs).eval()
    if lib == "timm":
        import timm

        if not timm.is_model(model):
            raise WeightMappingError(f"timm has no model `{model}`")
        with _fetching(name, pretrained):
            return timm.create_model(model, pretrained=pretrained, **kwargs).eval()
    raise WeightMappingError(f"unknown reference `{name}`: write tv:NAME (torchvision) or timm:NAME")


@contextlib.contextmanager
def _fetching(name: str, pretrained: bool):
    try:
        yield
    except OSError as e:  # no network, no cache, a hub error: say what to do instead
        if not pretrained:
            raise
        raise WeightMappingError(f"could not fetch {describe([name])}'s published weights ({e}); "
                                 "save its state dict to a file and pass that path (weights=PATH)") from e


def read_state_dict(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from a file; a checkpoint dict holding it under `state_dict`, `model` or
    `state_dict_ema` is unwrapped."""
    p = Path(path)
    if not p.is_file():
        raise WeightMappingError(f"{p}: no such file")
    if p.suffix == ".safetensors":
        from safetensors.torch import load_file

        sd: Any = load_file(str(p))
    else:
        try:
            sd = torch.load(p, map_location="cpu", weights_only=True)
        except Exception as e:  # an unreadable or non-weights pickle: torch raises several kinds
            raise WeightMappingError(f"{p}: not a state dict that torch.load can read with weights_only=True ({e})") from e
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(sd, Mapping) and key in sd and isinstance(sd[key], Mapping):
            sd = sd[key]
            break
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightMappingError(f"{p}: holds no state dict (a mapping of names to tensors)")
    return dict(sd)
