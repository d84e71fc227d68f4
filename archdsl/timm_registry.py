"""`archdsl.register_timm()`: every zoo variant as a timm model, `archdsl_FILE_VARIANT`.

After registration, `timm.create_model("archdsl_convnext_tiny", num_classes=10,
drop_path_rate=0.1)` builds our model, so existing timm training scripts run it
unchanged. timm's keyword arguments (archdsl/timm_arguments.py) map to the arch's
parameters and build options: `num_classes` -> `classes`, `drop_path_rate` -> `drop_path`,
`in_chans` / `img_size` -> the input shape, `drop_rate` / `global_pool` -> the head,
`features_only` / `out_indices` / `feature_cls` -> a feature extractor; any other keyword
must be a parameter of the arch. What archdsl cannot honour is an error, never dropped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from archdsl.timm_arguments import timm_arguments

# timm (1.0.31) rejects "/" in registry names (it reads them as Hub repo ids or paths),
# so the prefix is "archdsl_" rather than "archdsl/".
PREFIX = "archdsl_"


def _entrypoint(path: Path, variant: str | None, name: str) -> Callable[..., Any]:
    def create(pretrained: bool = False, **kwargs: Any):
        from archdsl.api import build, parse
        from archdsl.errors import ArchError

        if pretrained:
            raise ArchError(f"{name}: archdsl ships no weights; load a reference state dict with archdsl.load_reference", None)
        for k in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
            kwargs.pop(k, None)
        program = parse(path)
        build_kwargs, finish = timm_arguments(program, variant, name, kwargs)
        model = build(program, variant, **build_kwargs)
        return finish(model)

    create.__name__ = name
    create.__qualname__ = name
    create.__module__ = __name__
    create.__doc__ = f"archdsl {path.name}" + (f" variant {variant}" if variant else "")
    return create


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
