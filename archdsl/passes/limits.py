"""Pass `check_budget`: refuse a network whose parameter count exceeds a budget.

Runs right after shape inference, from the registry's parameter rules: nothing is
allocated, so a 10-trillion-parameter typo fails in milliseconds.
"""

from __future__ import annotations

from archdsl import ops
from archdsl.errors import ArchError
from archdsl.ir.graph import Graph

DEFAULT_MAX_PARAMS = 10_000_000_000


def check_budget(g: Graph, max_params: int = DEFAULT_MAX_PARAMS) -> Graph:
    total = 0
    for node in g:
        ins = [g.nodes[i].shape for i in node.inputs]
        if node.attrs.get("_shared", {}).get("first") is False:
            continue  # a later use of a `shared` layer: its weights are counted at the first use
        total += int(ops.get(node.op).params(node.attrs, ins, node.shape))
        if total > max_params:
            raise ArchError(f"the network passes {max_params:,} parameters at `{node.token}` (the parameter budget)",
                            node.span, "check the widths; raise the budget with --max-params if this is intended")
    return g
