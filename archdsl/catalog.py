"""The zoo by name: where its files are, and the model names they define.

`archdsl compile convnext -v tiny`, `archdsl render resnet`, `archdsl.build("convnext_tiny")`
and `archdsl.list_models("convnext*")` work from any directory, in a source checkout (its
`zoo/`) and in an installed wheel (the package `archdsl.zoo`, read with
`importlib.resources`). A model name is a zoo file's stem (`convnext`: its default
variant) or a stem joined with a variant (`convnext_tiny`); a variant that already starts
with the stem stands alone (`resnet.arch`'s `resnet50` is `resnet50`), as in
`archdsl.register_timm()`. Parsing here is torch-free.
"""

from __future__ import annotations

import difflib

import fnmatch
import functools
import os
import re
from pathlib import Path

from archdsl.errors import ArchError, Span, did_you_mean
from archdsl.source import zoo_dir  # noqa: F401 - where the zoo is; re-exported

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def zoo_files() -> list[Path]:
    """The zoo's model files (`zoo/*.arch`), sorted by name."""
    zoo = zoo_dir()
    return sorted(zoo.glob("*.arch")) if zoo is not None else []


def model_name(stem: str, variant: str | None) -> str:
    """`convnext` + `tiny` -> `convnext_tiny`; `resnet` + `resnet50` -> `resnet50`,
    `resnet_v2` + `resnetv2_50` -> `resnetv2_50` (a variant that names its family stands alone)."""
    if variant is None:
        return stem
    return variant if variant.startswith((stem, stem.replace("_", ""))) else f"{stem}_{variant}"


def _variants(path: Path) -> list[str]:
    from archdsl.source import read_source
    from archdsl.syntax.parser import parse_source

    return list(parse_source(read_source(path), str(path)).variant_names)


@functools.lru_cache(maxsize=4)
def _catalog(zoo: Path | None) -> tuple[dict[str, tuple[Path, str | None]], tuple[str, ...]]:
    table: dict[str, tuple[Path, str | None]] = {}
    listed: list[str] = []
    files = sorted(zoo.glob("*.arch")) if zoo is not None else []
    for path in files:
        for variant in _variants(path) or [None]:
            name = model_name(path.stem, variant)
            listed.append(name)
            table.setdefault(name, (path, variant))
    for path in files:  # a file's stem names its default variant (unless a model already has the name)
        table.setdefault(path.stem, (path, None))
    return table, tuple(sorted(set(listed)))


def models() -> dict[str, tuple[Path, str | None]]:
    """Every zoo name -> (file, variant; None for a bare stem: the file's default variant)."""
    return _catalog(zoo_dir())[0]


def list_models(pattern: str = "*") -> list[str]:
    """Zoo model names matching a shell-style pattern, like `timm.list_models`:
    `list_models("convnext*")` -> `['convnext_base', 'convnext_large', ...]`.

    One name per variant (`convnext_tiny`); a file without variants is its stem."""
    return [n for n in _catalog(zoo_dir())[1] if fnmatch.fnmatchcase(n, pattern)]


def is_model_name(text: str) -> bool:
    """Whether `text` is to be read as a zoo name rather than a path or source text."""
    return bool(_NAME.fullmatch(text)) and not text.endswith(".arch") and not os.path.exists(text)


def resolve(name: str, variant: str | None = None, span: Span | None = None) -> tuple[Path, str | None]:
    """A zoo name (and an optional explicit variant) -> (file, variant); a located error otherwise."""
    span = span or Span(name, 1, 1, max(1, len(name)), name)
    found = models().get(name)
    if found is None:
        if os.path.exists(name + ".arch"):
            hint = f"did you mean the file `{name}.arch`?"
        else:
            hint = did_you_mean(name, models()) or "`archdsl zoo` lists the zoo's models; a file name ends in .arch"
        raise ArchError(f"no file or zoo model named `{name}`", span, hint)
    path, own = found
    if own is not None and variant is not None and variant != own:
        raise ArchError(f"`{name}` is variant `{own}` of {path.name}; it cannot also be variant `{variant}`", span,
                        f"write `{path.stem} --variant {variant}`, or drop --variant")
    return path, own if own is not None else variant


def missing_hint(path: Path) -> str:
    """`convnext.arch` typed in a directory without it: the zoo model is `convnext`, by name."""
    names = models()
    if path.stem in names:
        return f"`{path.stem}` is a zoo model: name it without the path and .arch (e.g. `archdsl compile {path.stem}`)"
    close = difflib.get_close_matches(path.stem, list(names), n=1, cutoff=0.8)
    if close:
        return f"check the path; or did you mean the zoo model `{close[0]}` (named without .arch)?"
    return "check the path, or name a zoo model (`archdsl zoo` lists them)"
