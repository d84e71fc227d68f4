"""The compiler's passes, each a named function IR -> IR, run in a fixed order.

    resolve_parameters   arch header + variant + overrides -> typed values
    lower                AST -> IR graph (expands repeats, instantiates blocks)
    adapt_head           timm's drop_rate / global_pool, when asked for (passes/head.py)
    infer_shapes         output shape of every op, checked against its rule
    check_budget         refuse networks over the parameter budget (before any allocation)
    check_input_size     input sizes the non-overlapping downsampling can take (e.g. /32)
    insert_projections   1x1 conv + bn on residual shortcuts that change shape
    resolve_conv_bias    conv bias unless a bn follows
    mark_inplace         activations that may overwrite their input
    name_modules         module names inside each group

`compile_program` runs them all, verifying the graph between passes.

Inference transforms that need trained weights work on built models instead (the IR
holds no weights): `fold_batchnorm(model) -> model`, `reparameterize(model) -> model`
(multi-branch blocks merged into one conv: RepVGG, RepLKNet deploy forms).
"""

from __future__ import annotations

from typing import Any

from archdsl.ir.graph import Graph
from archdsl.ir.lower import lower
from archdsl.passes.head import adapt_head
from archdsl.passes.input_size import check_input_size
from archdsl.passes.limits import DEFAULT_MAX_PARAMS, check_budget
from archdsl.passes.modules import mark_inplace, name_modules, resolve_conv_bias
from archdsl.passes.parameters import SetArg, resolve_parameters
from archdsl.passes.shapes import infer_shapes, insert_projections
from archdsl.passes.verify import verify
from archdsl.syntax import ast

GRAPH_PASSES = [infer_shapes, insert_projections, resolve_conv_bias, mark_inplace, name_modules]


def compile_program(program: ast.Program, variant: str | None = None, overrides: dict[str, Any] | None = None,
                    set_args: list[SetArg] | None = None, input_shape: tuple[int, ...] | None = None,
                    max_params: int = DEFAULT_MAX_PARAMS, drop_rate: float | None = None,
                    global_pool: str | None = None) -> Graph:
    resolved = resolve_parameters(program, variant, overrides, set_args)
    g = verify(lower(program, resolved, input_shape, variant))
    g = verify(adapt_head(g, drop_rate, global_pool))
    for p in GRAPH_PASSES:
        g = verify(p(g), shapes=True)
        if p is infer_shapes:
            g = check_input_size(check_budget(g, max_params))
    return g


__all__ = ["DEFAULT_MAX_PARAMS", "GRAPH_PASSES", "adapt_head", "check_budget", "check_input_size", "SetArg", "compile_program", "infer_shapes", "insert_projections", "lower",
           "mark_inplace", "name_modules", "resolve_conv_bias", "resolve_parameters", "verify"]
