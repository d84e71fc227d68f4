"""Channels-last runs in a block's forward.

A layer on a (C, H, W) map that works per position over channels (LayerNorm, an MLP, a
layer scale) computes on a channels-last tensor: `LayerNorm2d` and a channels-first `Mlp`
permute to (N, H, W, C), compute and permute back, and a layer scale reshapes its vector to
(1, C, 1, 1). Where a block runs two or more such layers in a chain, the generated forward
permutes once before the chain and once after it, and each layer runs its channels-last form
(`OpSpec.channels_last`); elementwise layers in between (`OpSpec.layout_free`: activations,
dropout) run as they are. ConvNeXt's block becomes timm's:

    x = self.norm(x.permute(0, 2, 3, 1))   # nn.LayerNorm
    x = self.mlp(x)                         # Mlp on the last dim
    x = (x * self.gamma).permute(0, 3, 1, 2)

The values are the same (each layer computes the same numbers from the same numbers; only
where the permutes happen moves), the parameters and their names are the same, and dynamo
traces fewer operations. Only stage blocks are rewritten (stems, heads and downsampling
steps are `nn.Sequential`s, which call their layers as they are).
"""

from __future__ import annotations

import ast
from typing import Any

from archdsl import ops
from archdsl.backends.codegen.values import template

TO_LAST = "x.permute(0, 2, 3, 1)"
TO_FIRST = "permute(0, 3, 1, 2)"


def apply(inst: Any) -> None:
    if inst.group.kind != "block":
        return
    steps = inst.steps
    items = {it.name: it for it in inst.items}
    readers: dict[int, int] = {}
    for st in steps:
        for v in st.inputs:
            readers[v] = readers.get(v, 0) + 1
    ends = {inst.out, *inst.aux}

    def form(k: int):
        it = items.get(steps[k].item)
        return it.channels_last if it is not None else None

    def joins(k: int, run: list[int]) -> bool:
        st = steps[k]
        it = items.get(st.item)
        if it is None or it.kind not in ("module", "param") or len(st.inputs) != 1 or st.out != k + 1:
            return False
        if st.expr is not None and it.kind == "module":
            return False
        if run:  # reads the value the run made just before, which nothing else reads
            prev = run[-1] + 1
            if st.inputs != [prev] or readers.get(prev, 0) != 1 or prev in ends:
                return False
        return it.channels_last is not None or (it.kind == "module" and ops.get(it.op).layout_free)

    k = 0
    while k < len(steps):
        run: list[int] = []
        j = k
        while j < len(steps) and joins(j, run):
            run.append(j)
            j += 1
        while run and form(run[-1]) is None:  # elementwise layers at the ends gain nothing
            run.pop()
        while run and form(run[0]) is None:
            run.pop(0)
        if sum(1 for s in run if form(s) is not None) >= 2:
            _rewrite(steps, items, run)
        k = max(j, k + 1)


def _rewrite(steps: list, items: dict, run: list[int]) -> None:
    for k in run:
        st, it = steps[k], items[steps[k].item]
        if it.channels_last is None:
            continue
        if it.kind == "module":
            it.value = it.channels_last
        else:
            st.expr = it.channels_last
    for k in run[:-1]:
        steps[k].channels_last = True
    first, last = steps[run[0]], steps[run[-1]]
    if first.expr is None:
        first.expr = f"p({TO_LAST})"
    else:  # a parameter op's template, its input permuted: `x * p` -> `x.permute(0, 2, 3, 1) * p`
        to_last = ast.parse(TO_LAST, mode="eval").body
        first.expr = ast.unparse(template(first.expr, {"x": to_last, "p": ast.Name("p", ast.Load())}, set()))
    last.expr = f"p(x).{TO_FIRST}" if last.expr is None else f"({last.expr}).{TO_FIRST}"
