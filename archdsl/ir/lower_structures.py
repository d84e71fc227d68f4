"""Lowering structures: `residual:`, `add:`, `cat:`, `dense:`, `split:`, `patches:`, `aux:`,
`outputs:` -> the sums, concatenations and slices of their branches."""

from __future__ import annotations

from archdsl.errors import ArchError, Span, did_you_mean
from archdsl.ir.graph import Path
from archdsl.ir.values import Env, describe, evaluate
from archdsl.syntax import ast

_PROJ_MODES = ("auto", "none", "conv", "skip")  # residual(proj=...): bare words


class StructureLowering:
    """`_Lowering`'s structures (a mixin: the state lives in archdsl.ir.lower._Lowering)."""

    def _struct(self, s: ast.Struct, x: int, env: Env, scope: Path) -> int:
        kwargs = {k: (v.id if k == "proj" and isinstance(v, ast.Name) and v.id in _PROJ_MODES and v.id not in env
                      else evaluate(v, env, self.p.blocks)) for k, v in s.kwargs.items()}
        if s.args:
            raise ArchError(f"`{s.kind}:` takes keyword options only", s.span)
        allowed = {"residual": {"proj", "scale", "drop", "cls"}, "cat": set(), "add": set(), "dense": set(),
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
        return self._node("add", {"n": len(outs)}, outs, s.span, scope, "add")

    def _branches(self, s: ast.Struct) -> list[list[ast.Item]]:
        if len(s.body) == 1 and isinstance(s.body[0], ast.Chain) and all(isinstance(i, ast.Group) for i in s.body[0].items):
            branches = [i.chain.items for i in s.body[0].items]
        elif all(isinstance(l, ast.Chain) for l in s.body) and len(s.body) > 1:
            branches = [l.items for l in s.body]
        else:
            raise ArchError(f"`{s.kind}:` needs branches: `{s.kind}: [a b] [c d]` or one branch per indented line", s.span)
        if len(branches) < 2:
            raise ArchError(f"`{s.kind}:` needs at least two branches", s.span, "an empty `[]` is the identity branch")
        return branches

    def _residual(self, branch, x: int, scope: Path, span: Span, opts: dict, env: Env) -> int:
        proj = opts.get("proj", "auto")
        if proj is None:
            proj = "none"
        if proj not in ("auto", "none", "conv", "skip"):
            raise ArchError(f"`proj` must be auto, none, conv or skip, got {describe(proj)}", span)
        y = branch(x)
        if proj == "skip" and self._shape(y) != self._shape(x):
            return y  # MobileNet-style: a block that changes the shape has no shortcut
        ls = self.globals.get("layer_scale")
        if self.in_stage_block and ls and opts.get("scale", True):
            y = self._node("layer_scale", {"init": float(ls), "image": None}, [y], span, scope, "layer_scale")
        if self.in_stage_block and self.drop_rate > 0 and opts.get("drop", True):
            y = self._node("drop_path", {"p": self.drop_rate}, [y], span, scope, f"drop_path({self.drop_rate:.3g})")
        if opts.get("cls"):  # CaiT/XCiT class-attention blocks: the branch updates token 0 only
            return self._node("add", {"residual": True, "proj": "none", "n": 2, "cls": True}, [y, x], span, scope, "+cls")
        return self._node("add", {"residual": True, "proj": proj, "n": 2}, [y, x], span, scope, "+")
