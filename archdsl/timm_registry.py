"""`archdsl.register_timm()`: every zoo variant as a timm model, `archdsl_FILE_VARIANT`.

After registration, `timm.create_model("archdsl_convnext_tiny", num_classes=10,
drop_path_rate=0.1)` builds our model, so existing timm training scripts run it
unchanged. timm's keyword arguments (archdsl/timm_arguments.py) map to the arch's
parameters and build options: `num_classes` -> `classes`, `drop_path_rate` -> `drop_path`,
`in_chans` / `img_size` -> the input shape, `drop_rate` / `global_pool` -> the head,
`features_only` / `out_indices` / `feature_cls` -> a feature extractor; any other keyword
must be a parameter of the arch. What archdsl cannot honour is an error, never dropped.

`pretrained=True` loads reference weights through `archdsl.weights.load_weights` (the same
path as `archdsl.build(..., weights=...)`): from `pretrained_cfg` / `pretrained_cfg_overlay`'s
`state_dict` (an in-memory state dict) or `file` (a local .pth/.safetensors), as timm's own
models take them, else the published weights of the variant's reference in the zoo status
table (downloaded by torchvision or timm). With another `num_classes` the classifier keeps
its fresh initialisation, as in timm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from archdsl.timm_arguments import timm_arguments

# timm (1.0.31) rejects "/" in registry names (it reads them as Hub repo ids or paths),
# so the prefix is "archdsl_" rather than "archdsl/".
PREFIX = "archdsl_"


def _entrypoint(path: Path, variant: str | None, name: str) -> Callable[..., Any]:
    def create(pretrained: bool = False, pretrained_cfg: Any = None, pretrained_cfg_overlay: Any = None, **kwargs: Any):
        from archdsl.api import build, parse

        weights = _pretrained_source(path, variant, name, pretrained_cfg, pretrained_cfg_overlay) if pretrained else None
        kwargs.pop("cache_dir", None)
        program = parse(path)
        build_kwargs, finish = timm_arguments(program, variant, name, kwargs)
        model = build(program, variant, **build_kwargs)
        if weights is not None:
            from archdsl.weights import load_weights

            # a num_classes of one's own: the classifier stays fresh (non-strict), the rest loads verified
            load_weights(model, weights, strict="classes" not in build_kwargs)
        return finish(model)  # the feature wrapper, if asked for, goes around the loaded network

    create.__name__ = name
    create.__qualname__ = name
    create.__module__ = __name__
    create.__doc__ = f"archdsl {path.name}" + (f" variant {variant}" if variant else "")
    return create


def _pretrained_source(path: Path, variant: str | None, name: str, cfg: Any, overlay: Any) -> Any:
    """What `pretrained=True` loads: a state dict, a file, or the reference's hub."""
    import dataclasses

    merged: dict[str, Any] = {}
    if dataclasses.is_dataclass(cfg):
        merged.update(dataclasses.asdict(cfg))
    elif isinstance(cfg, dict):
        merged.update(cfg)
    merged.update(overlay or {})
    if merged.get("state_dict") is not None:
        return merged["state_dict"]
    if merged.get("file"):
        return merged["file"]
    if merged.get("url") or merged.get("hf_hub_id"):
        from archdsl.weights import WeightMappingError

        raise WeightMappingError(f"{name}: archdsl loads `file=` or `state_dict=` sources, or the zoo reference's own weights; "
                                 "download the file and pass pretrained_cfg_overlay=dict(file=PATH)")
    from archdsl.zoo_status import status

    check = status(path.stem, variant)
    if check is None or not check.library:
        from archdsl.weights import WeightMappingError

        raise WeightMappingError(f"{name}: no torchvision/timm reference in the zoo status table to take weights from; "
                                 "pass pretrained_cfg_overlay=dict(file=PATH) with a state dict")
    return check.params  # "tv:NAME" / "timm:NAME": the library's published weights


def register_timm() -> list[str]:
    """Register every zoo variant with timm; returns the registered names."""
    from timm.models import is_model, model_entrypoint, register_model

    from archdsl.api import parse
    from archdsl.catalog import model_name, zoo_files

    names = []
    for path in zoo_files():
        program = parse(path)
        for variant in program.variant_names or [None]:
            name = PREFIX + model_name(path.stem, variant)  # the zoo name: convnext_tiny, resnet50
            if not (is_model(name) and model_entrypoint(name).__module__ == __name__):  # idempotent
                register_model(_entrypoint(path, variant, name))
            names.append(name)
    return names
