"""The Python API: parse, build, summary, and loading reference weights."""

from __future__ import annotations

import os
from typing import Any

from archdsl.errors import ArchError, Span  # noqa: F401 - re-exported
from archdsl.ir.graph import Graph
from archdsl.passes import DEFAULT_MAX_PARAMS, SetArg, compile_program
from archdsl.source import MAX_SOURCE_BYTES, read_source  # noqa: F401 - torch-free home of read_source, re-exported
from archdsl.syntax import ast, parse_text


def _looks_like_path(text_or_path: str | os.PathLike) -> bool:
    if isinstance(text_or_path, os.PathLike):
        return True
    return "\n" not in text_or_path and (text_or_path.endswith(".arch") or os.path.exists(text_or_path))


def zoo_source(path_or_text: Any, variant: str | None = None) -> tuple[Any, str | None]:
    """A zoo model name (`convnext`, `convnext_tiny`, `resnet50`) -> (its file, variant);
    anything else (a path, source text, a Program) is returned as given. A variant given as
    a whole number is the variant of that name (`variant 0`)."""
    from archdsl import catalog

    if isinstance(variant, int) and not isinstance(variant, bool):  # `build("coatnet.arch", 0)`: variant `0`
        variant = str(variant)
    if isinstance(path_or_text, str) and "\n" not in path_or_text and catalog.is_model_name(path_or_text):
        return catalog.resolve(path_or_text, variant)
    return path_or_text, variant


def parse(text_or_path: str | os.PathLike) -> ast.Program:
    """Parse a `.arch` file (a path), a zoo model name or source text into a Program."""
    text_or_path = zoo_source(text_or_path)[0]
    if _looks_like_path(text_or_path):
        from archdsl.catalog import missing_hint

        return parse_text(read_source(text_or_path, missing_hint), str(text_or_path))
    return parse_text(str(text_or_path), "<string>")


def compile_graph(path_or_text: str | os.PathLike | ast.Program, variant: str | None = None,
                  set_args: list[SetArg] | None = None, input_shape: tuple[int, ...] | None = None,
                  max_params: int = DEFAULT_MAX_PARAMS, drop_rate: float | None = None, global_pool: str | None = None,
                  **overrides: Any) -> Graph:
    """Parse, resolve and check: the IR graph every backend starts from.

    `path_or_text` is a `.arch` path, source text, a parsed Program, or a zoo model name:
    `compile_graph("convnext_tiny")` is `compile_graph(<zoo>/convnext.arch, "tiny")`.
    `drop_rate` and `global_pool` change the head as timm's arguments of those names do
    (archdsl/passes/head.py): dropout before the classifier; "avg", "max", "token" or ""
    (no pooling)."""
    path_or_text, variant = zoo_source(path_or_text, variant)
    program = path_or_text if isinstance(path_or_text, ast.Program) else parse(path_or_text)
    return compile_program(program, variant, overrides, set_args, input_shape, max_params, drop_rate, global_pool)


COMPILE_MODES = ("default", "reduce-overhead", "max-autotune")
DTYPES = ("float32", "bfloat16", "float16", "float64")


def build(path_or_text: str | os.PathLike | ast.Program, variant: str | None = None, *,
          input_shape: tuple[int, ...] | None = None, max_params: int = DEFAULT_MAX_PARAMS,
          features: bool = False, out_indices: int | tuple[int, ...] | None = None, inference: bool = False,
          dtype: Any = None, channels_last: bool = False, compile: bool = False, mode: str | None = None,
          dynamic: bool | None = None, weights: Any = None, **overrides: Any):
    """Build the torch `nn.Module` for an architecture (optionally a variant, with overrides).

    `features=True` returns the trunk (stem and stages, cut after the last level asked for)
    giving the maps of its feature levels `out_indices` (default: all; an int k: the last
    k), one per resolution as timm's `features_only` models do, with `feature_info` (timm's
    FeatureInfo: channels, reductions, module names), for detection and segmentation necks.
    `drop_rate` and `global_pool` change the head as timm's arguments do (compile_graph).

    Deployment options, applied in this order: `inference=True` returns the eval-mode
    model with the inference passes applied (`archdsl.passes.inference`: dropout removal,
    RepVGG/RepLKNet reparameterization, BatchNorm folding, channels-last weights where
    that pays: conv nets); `dtype` ("float32",
    "bfloat16", ... or a `torch.dtype`) converts parameters and buffers; `channels_last`
    stores 4-d weights in NHWC order (feed NHWC inputs too); `compile=True` returns
    `torch.compile(model, mode=mode, dynamic=dynamic)` (mode: default, reduce-overhead,
    max-autotune).

    `weights` loads reference weights before those steps (archdsl.weights.load_weights):
    "torchvision" / "timm" (the published weights of the variant's reference in the zoo
    status table), "tv:NAME" / "timm:NAME", or a path to a .pth/.safetensors state dict
    (this model's own, or the reference model's); the copy is verified like
    `load_reference`'s.
    """
    from archdsl.backends.load import build_module

    if out_indices is not None and not features:
        raise ValueError("out_indices= only applies with features=True")
    if mode is not None and mode not in COMPILE_MODES:
        raise ValueError(f"mode must be one of {', '.join(COMPILE_MODES)}, got {mode!r}")
    if mode is not None and not compile:
        raise ValueError("mode= only applies with compile=True")
    torch_dtype = _torch_dtype(dtype)
    g = compile_graph(path_or_text, variant, input_shape=input_shape, max_params=max_params, **overrides)
    model = build_module(g)
    if weights is not None:
        from archdsl.weights import load_weights

        load_weights(model, weights)  # into the whole network, before any feature wrapper
    if features:
        from archdsl.backends.features import FeatureNet

        model = FeatureNet(model, out_indices)
    if inference:
        if features:
            raise ValueError("inference=True works on whole networks, not features=True")
        from archdsl.backends.deploy import optimize_for_inference

        model = optimize_for_inference(model)
    if torch_dtype is not None:
        model = model.to(dtype=torch_dtype)
    if channels_last:
        import torch

        model = model.to(memory_format=torch.channels_last)
    if compile:
        import torch

        model = torch.compile(model, mode=None if mode in (None, "default") else mode, dynamic=dynamic)
    return model


def _torch_dtype(dtype: Any):
    if dtype is None:
        return None
    import torch

    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {', '.join(DTYPES)} or a torch.dtype, got {dtype!r}")
    return getattr(torch, dtype)


def summary(path_or_text: str | os.PathLike | ast.Program, variant: str | None = None, *,
            input_shape: tuple[int, ...] | None = None, **overrides: Any) -> dict[str, Any]:
    """The same dict `archdsl compile --json` prints: params, MACs, shapes, per-stage table.

    It is a `Summary` (a dict) that also holds one row per layer in `.layers` (module,
    token, output shape, params, MACs; `.layer_table()` prints them like torchinfo) and
    shows as an HTML table in notebooks."""
    from archdsl.backends.summary import summarize

    return summarize(compile_graph(path_or_text, variant, input_shape=input_shape, **overrides))


def render(path_or_text: str | os.PathLike | ast.Program | Graph, variant: str | None = None, *, depth: int | str = 1,
           rankdir: str = "TB", input_shape: tuple[int, ...] | None = None, **overrides: Any):
    """The architecture diagram as a `graphviz.Digraph` (displays inline in notebooks).

    `depth`: 0 (stem / stages / head), 1 (one block of each stage expanded) or "full"
    (every op; identical consecutive blocks drawn once with xN). Save it with
    `archdsl.backends.graphviz.write(diagram, "out.svg")` or `diagram.render(...)`.
    """
    from archdsl.backends.graphviz import draw

    g = path_or_text if isinstance(path_or_text, Graph) else compile_graph(path_or_text, variant, input_shape=input_shape, **overrides)
    return draw(g, depth=depth, rankdir=rankdir)


def to_source(path_or_text: str | os.PathLike | ast.Program, variant: str | None = None, *,
              input_shape: tuple[int, ...] | None = None, output: str | os.PathLike | None = None,
              **overrides: Any) -> str:
    """One self-contained PyTorch file for the architecture (the same network as `build`,
    with the same state-dict keys). With `output`, also write it there atomically."""
    from archdsl.backends.codegen import write_source
    from archdsl.fileio import write_atomic

    text = write_source(compile_graph(path_or_text, variant, input_shape=input_shape, **overrides))
    if output is not None:
        write_atomic(output, text)
    return text


def diff(a: str | os.PathLike | ast.Program, b: str | os.PathLike | ast.Program, variant_a: str | None = None,
         variant_b: str | None = None) -> dict[str, Any]:
    """Compare two architectures (paths, source text or parsed programs), each with its own variant."""
    from archdsl.backends.diff import diff_graphs, source_name

    ga, gb = compile_graph(a, variant_a), compile_graph(b, variant_b)
    return diff_graphs(ga, gb, source_name(a), source_name(b))
