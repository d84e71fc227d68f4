"""`archdsl.register_timm()`: every zoo variant as a timm model, `archdsl_FILE_VARIANT`.

After registration, `timm.create_model("archdsl_convnext_tiny", num_classes=10,
drop_path_rate=0.1)` builds our model, so existing timm training scripts run it
unchanged. timm's usual keyword arguments map to the arch's parameters:
`num_classes` -> `classes`, `drop_path_rate` -> `drop_path`, `in_chans` -> input channels.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

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
        declared = {p.name for p in program.params}
        overrides: dict[str, Any] = {}
        input_shape = None
        if "num_classes" in kwargs:
            overrides["classes"] = kwargs.pop("num_classes")
        if "drop_path_rate" in kwargs:
            rate = kwargs.pop("drop_path_rate")
            if "drop_path" in declared:
                overrides["drop_path"] = float(rate)
        if "in_chans" in kwargs:
            in_chans = kwargs.pop("in_chans")
            from archdsl.api import compile_graph

            c, h, w = compile_graph(program, variant).input_shape
            input_shape = (in_chans, h, w)
        kwargs.pop("drop_rate", None)
        overrides.update(kwargs)
        return build(program, variant, input_shape=input_shape, **overrides)

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
