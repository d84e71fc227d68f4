"""Lowering structures: `residual:`, `add:`, `cat:`, `dense:`, `split:`, `patches:`, `aux:`,
`outputs:` -> the sums, concatenations and slices of their branches."""

from __future__ import annotations

from typing import Any

from archdsl.errors import ArchError, Span, did_you_mean
from archdsl.ir.graph import Path
from archdsl.ir.values import Env, describe, evaluate, format_value
from archdsl.syntax import ast

_PROJ_MODES = ("auto", "none", "conv", "skip")  # residual(proj=...): bare words
RESIDUAL_KINDS = ("residual",)
RESIDUAL_OPTIONS = ("proj", "scale", "drop")  # what `default residual(...)` may set


def lone_struct(items: list[ast.Item]) -> bool:
    """Whether a chain is one structure and nothing else (`[residual: dw3 bn]`, `add: [a] [b]`):
    as a stage body it is the block itself, not wrapped in the inline body's residual."""
    while len(items) == 1 and isinstance(items[0], ast.Group):
        items = items[0].chain.items
    return len(items) == 1 and isinstance(items[0], ast.Struct)


class StructureLowering:
    """`_Lowering`'s structures (a mixin: the state lives in archdsl.ir.lower._Lowering)."""

    def _struct(self, s: ast.Struct, x: int, env: Env, scope: Path) -> int:
        kwargs = {k: (v.id if k == "proj" and isinstance(v, ast.Name) and v.id in _PROJ_MODES and v.id not in env
                      else evaluate(v, env, self.p.blocks)) for k, v in s.kwargs.items()}
        if s.args:
            raise ArchError(f"`{s.kind}:` takes keyword options only", s.span)
        allowed = {"residual": {"proj", "scale", "drop", "cls"}, "cat": set(), "add": {"drop"}, "dense": set(),
                   "patches": {"skip"}, "aux": {"when"}, "split": set(), "outputs": set()}[s.kind]
        for k in kwargs:
            if k not in allowed:
                raise ArchError(f"`{s.kind}:` has no option `{k}`", s.span,
                                did_you_mean(k, allowed) or (f"options: {', '.join(sorted(allowed))}" if allowed else "it takes no options"))
        if s.kind == "residual":
            return self._residual(lambda y: self._lines(s.body, y, env, scope), x, scope, s.span, kwargs, env)
        if s.kind == "patches":  # LocalViT: the body sees the patch tokens as an image; class tokens pass by
            skip = kwargs.get("skip", 1)
            grid = self._node("patch_grid", {"skip": skip}, [x], s.span, scope, "patches")
            y = self._lines(s.body, grid, env, scope)
            return self._node("join_tokens", {"skip": skip}, [y, x], s.span, scope, "join")
        if s.kind == "aux":  # a side output: the body branches off x; x goes on unchanged
            when = kwargs.get("when", True)
            if not isinstance(when, bool):
                raise ArchError(f"`aux(when=...)` must be true or false, got {describe(when)}", s.span,
                                "e.g. `aux(when=aux_logits): ...` with `aux_logits=false` in the header")
            if when:
                y = self._lines(s.body, x, env, scope)
                if y == x:
                    raise ArchError("`aux:` branch has no layers", s.span, "e.g. `aux: gap fc(classes)`")
                self._node("aux_out", {}, [y], s.span, scope, "aux")
            return x
        if s.kind == "dense":
            y = self._lines(s.body, x, env, scope)
            return self._node("cat", {"dim": 1}, [x, y], s.span, scope, "dense")
        branches = self._branches(s)
        if s.kind == "split":  # ShuffleNet: branch k sees the k-th of n equal channel slices
            parts = [self._node("channel_slice", {"index": k, "parts": len(branches)}, [x], s.span, scope, f"split[{k}]")
                     for k in range(len(branches))]
            outs = [self._chain(b, part, env, scope) for b, part in zip(branches, parts)]
            return self._node("cat", {"dim": 1}, outs, s.span, scope, "cat")
        outs = [self._chain(b, x, env, scope) for b in branches]
        if s.kind == "outputs":  # several outputs (a feature pyramid): the network returns their tuple
            return self._node("outputs", {"n": len(outs)}, outs, s.span, scope, "outputs")
        if s.kind == "cat":
            return self._node("cat", {"dim": 1}, outs, s.span, scope, "cat")
        rate = self._drop_rate(kwargs["drop"], s.span) if "drop" in kwargs else 0.0
        if rate > 0:  # `add(drop=r):` stochastic depth on the first branch, the others its shortcut (timm's MBConv: drop_path(x) + shortcut)
            outs[0] = self._node("drop_path", {"p": rate}, [outs[0]], s.span, scope, f"drop_path({rate:.3g})")
        return self._node("add", {"n": len(outs)}, outs, s.span, scope, "add")

    def _branches(self, s: ast.Struct) -> list[list[ast.Item]]:
        if len(s.body) == 1 and isinstance(s.body[0], ast.Chain) and all(isinstance(i, ast.Group) for i in s.body[0].items):
            branches = [i.chain.items for i in s.body[0].items]
        elif all(isinstance(l, (ast.Chain, ast.Struct)) for l in s.body) and len(s.body) > 1:
            branches = [l.items if isinstance(l, ast.Chain) else [l] for l in s.body]  # a line may be one structure
        else:
            raise ArchError(f"`{s.kind}:` needs branches: `{s.kind}: [a b] [c d]` or one branch per indented line", s.span)
        if len(branches) < 2:
            raise ArchError(f"`{s.kind}:` needs at least two branches", s.span, "an empty `[]` is the identity branch")
        return branches

    def _residual(self, branch, x: int, scope: Path, span: Span, opts: dict, env: Env) -> int:
        given = {k: (v, span) for k, v in opts.items()}
        merged = {**self.residual_defaults, **given} if self.in_stage_block else given
        opts = {k: v for k, (v, _) in merged.items()}
        proj = opts.get("proj", "auto")
        if proj is None:
            proj = "none"
        if proj not in ("auto", "none", "conv", "skip"):
            raise ArchError(f"`proj` must be auto, none, conv or skip, got {describe(proj)}", span)
        y = branch(x)
        if proj == "skip" and self._shape(y) != self._shape(x):
            return y  # MobileNet-style: a block that changes the shape has no shortcut
        scale = self._layer_scale(*merged["scale"]) if "scale" in merged else None
        if scale is not None:
            y = self._node("layer_scale", {"init": scale, "image": None}, [y], span, scope, "layer_scale")
        rate = self._drop_rate(*merged["drop"]) if "drop" in merged else 0.0
        if rate > 0:
            y = self._node("drop_path", {"p": rate}, [y], span, scope, f"drop_path({rate:.3g})")
        if opts.get("cls"):  # CaiT/XCiT class-attention blocks: the branch updates token 0 only
            return self._node("add", {"residual": True, "proj": "none", "n": 2, "cls": True}, [y, x], span, scope, "+cls")
        return self._node("add", {"residual": True, "proj": proj, "n": 2}, [y, x], span, scope, "+")

    def _layer_scale(self, value: Any, span: Span) -> float | None:
        """`scale=`: the initial value of a learned per-channel scale of the branch (CaiT,
        ConvNeXt layer scale), or false / none / 0 for none."""
        if value is None or value is False or value == 0:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ArchError(f"`scale` is the layer scale's initial value, got {describe(value)}", span,
                            "e.g. `residual(scale=1e-6):`, or `default residual(scale=layer_scale)`; false for none")
        return float(value)

    def _drop_rate(self, value: Any, span: Span) -> float:
        """`drop=`: stochastic depth of this stage block's residual branch (or of the first
        branch of an `add:`): the rate of the
        network's last stage block, rising linearly from 0 over the blocks, or one rate per
        stage block (a list); false / none / 0 for none."""
        if value is None or value is False:
            return 0.0
        k, n = self.block_index, self.total_blocks
        if k is None:
            raise ArchError("stochastic depth (`drop=`) applies to the residuals (and `add:`s) of stage blocks", span,
                            "its rate follows the block's place among the network's stage blocks")
        if isinstance(value, list):
            bad = next((r for r in value if isinstance(r, bool) or not isinstance(r, (int, float)) or not 0 <= r < 1), None)
            if len(value) != n or bad is not None:
                problem = f"has {len(value)} rates for {n} stage blocks" if bad is None else f"holds {describe(bad)}"
                raise ArchError(f"`drop` {problem}", span, "give one rate in [0, 1) per stage block, or one rate for the last block")
            return float(value[k])
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ArchError(f"`drop` must be a rate or a list of rates, got {describe(value)}", span)
        if not 0 <= value < 1:  # a rate of 1 drops a whole branch: training outputs NaN
            raise ArchError(f"`drop` must be in [0, 1), got {format_value(value)}", span,
                            "it is the last stage block's stochastic-depth rate (rising from 0 over the blocks), e.g. 0.1")
        return float(value) * k / (n - 1) if n > 1 else 0.0
