"""timm's `create_model` keyword arguments, as archdsl build options (`register_timm`).

    num_classes        -> the arch's `classes` (0: no classifier, `fc(0)`)
    drop_rate          -> dropout before the classifier (build's drop_rate, passes/head.py)
    drop_path_rate     -> the arch's `drop_path` (an error above 0 when it has none)
    global_pool        -> the head's pooling: "avg", "max", "token" or "" (none)
    in_chans, img_size -> the input shape (token networks size their position tables to it)
    dynamic_img_size   -> False only: a built network has one input size per token grid
    features_only      -> a feature extractor (out_indices: which levels, default all;
                          feature_cls: "list" (default), "dict", or timm's "getter" / "hook";
                          output_fmt: "NCHW" or "NLC")
    device, dtype      -> where and in which dtype the parameters are made

Any other keyword must be a parameter the arch declares (`depths=`, `dims=`, ...); what
archdsl cannot honour is an `ArchError` naming the argument, never silently dropped.
"""

from __future__ import annotations

from typing import Any, Callable

from archdsl.errors import ArchError

TIMM_ARGUMENTS = ("num_classes", "drop_rate", "drop_path_rate", "global_pool", "in_chans", "img_size", "dynamic_img_size",
                  "dynamic_img_pad", "features_only", "out_indices", "feature_cls", "output_fmt", "device", "dtype")
FEATURE_CLASSES = ("list", "dict", "getter", "hook")


def _image_size(name: str, value: Any) -> tuple[int, int]:
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value, value)
    if (isinstance(value, (tuple, list)) and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        return int(value[0]), int(value[1])
    raise ArchError(f"{name}: img_size must be a positive int or (height, width), got {value!r}", None)


def timm_arguments(program: Any, variant: str | None, name: str, kwargs: dict[str, Any]) -> tuple[dict[str, Any], Callable]:
    """(keyword arguments for `archdsl.build`, a function finishing the built model: the
    feature extractor, the device) from timm's `create_model` keywords (module docstring)."""
    from archdsl.passes import resolve_parameters

    kw = dict(kwargs)
    declared = {p.name for p in program.params}
    out: dict[str, Any] = {k: kw.pop(k) for k in list(kw) if k not in TIMM_ARGUMENTS}
    for key, value in out.items():  # the arch's own parameters (and lets): anything else is named here, not dropped
        try:
            resolve_parameters(program, variant, {key: value})
        except ArchError as e:
            if not e.message.startswith("unknown parameter"):
                raise
            raise ArchError(f"{name}: unknown argument `{key}`: neither a timm argument archdsl supports "
                            f"({', '.join(TIMM_ARGUMENTS)}) nor a parameter of {program.name}", None, e.hint) from None
    if "num_classes" in kw:
        if "classes" not in declared:
            raise ArchError(f"{name}: num_classes needs a `classes` parameter, and {program.name} declares none", None)
        out["classes"] = int(kw.pop("num_classes"))
    rate = kw.pop("drop_path_rate", None)
    if rate is not None:
        if "drop_path" in declared:
            out["drop_path"] = float(rate)
        elif rate:
            raise ArchError(f"{name}: drop_path_rate={rate}: {program.name} has no `drop_path` parameter (no stochastic depth)",
                            None)
    for key in ("drop_rate", "global_pool"):
        if key in kw:
            out[key] = kw.pop(key)
    for key in ("dynamic_img_size", "dynamic_img_pad"):
        if kw.pop(key, False):
            raise ArchError(f"{name}: {key}=True is not supported: a network is built for one input size (token grids, "
                            "position tables)", None, "build one model per input size with img_size=")
    if "in_chans" in kw or "img_size" in kw:
        c = kw.pop("in_chans", None)
        size = _image_size(name, kw.pop("img_size")) if "img_size" in kw else None
        if c is None or size is None:  # the other one from the file's own input line
            from archdsl.api import compile_graph

            default = compile_graph(program, variant, **out).input_shape
            c = default[0] if c is None else c
            size = tuple(default[1:]) if size is None else size
        out["input_shape"] = (int(c), *size)
    if "dtype" in kw:
        out["dtype"] = kw.pop("dtype")
    device = kw.pop("device", None)
    features = bool(kw.pop("features_only", False))
    feature_cls = kw.pop("feature_cls", None) or "list"
    out_indices = kw.pop("out_indices", None)
    output_fmt = kw.pop("output_fmt", "NCHW")
    if not features and (out_indices is not None or "feature_cls" in kwargs or "output_fmt" in kwargs):
        given = next(k for k in ("out_indices", "feature_cls", "output_fmt") if k in kwargs)
        raise ArchError(f"{name}: {given} applies to feature extractors: add features_only=True", None)
    if feature_cls not in FEATURE_CLASSES:
        raise ArchError(f"{name}: feature_cls={feature_cls!r} is not supported; one of {', '.join(FEATURE_CLASSES)}", None)
    if isinstance(out_indices, list):
        out_indices = tuple(out_indices)

    def finish(model: Any) -> Any:
        if features:
            model = _feature_extractor(model, feature_cls, out_indices, output_fmt)
        return model.to(device) if device is not None else model

    return out, finish


def _feature_extractor(model: Any, feature_cls: str, out_indices: Any, output_fmt: str) -> Any:
    if feature_cls in ("list", "dict"):
        from archdsl.backends.features import FeatureNet

        return FeatureNet(model, out_indices, output_fmt=output_fmt, return_dict=feature_cls == "dict")
    from timm.models._features import FeatureGetterNet, FeatureHookNet

    indices = out_indices if out_indices is not None else tuple(range(len(model.feature_info)))
    if feature_cls == "getter":
        return FeatureGetterNet(model, out_indices=indices, output_fmt=output_fmt)
    return FeatureHookNet(model, out_indices=indices, output_fmt=output_fmt)
