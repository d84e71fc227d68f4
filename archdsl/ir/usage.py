"""Declarations nothing reads: a header parameter or a `let` that no expression, layer or
block of the file uses is an error at its declaration; so is a stage option (`t=[1,6,6]`)
that neither the stage's block nor its line reads, and one that a block call on the same
line gives again (`stage unit(t=2) x[2] t=[1,6]`).

A name means only what the file does with it: `layer_scale` or `drop_path` in a header
does nothing by itself (layer scale and stochastic depth are written where they apply,
e.g. `default residual(scale=layer_scale, drop=drop_path)`), so declaring one that nothing
reads is a mistake, not a silent no-op. `dims` (the stages' widths `c`) and `depths` (the
stages' repeats) are read by the stage lines themselves.
"""

from __future__ import annotations

from archdsl.errors import ArchError
from archdsl.syntax import ast

IMPLICIT = {"dims", "depths"}  # read by stage lines: `c` is dims[i], `x[...]` is depths
_FOLD_HINTS = {"layer_scale": "layer scale is written where it applies: `default residual(scale=layer_scale)`",
               "drop_path": "stochastic depth is written where it applies: `default residual(drop=drop_path)`"}


def _reads(node, out: set[str]) -> None:
    """Every name an AST subtree reads: expression names and the words of layer tokens (a
    block-valued parameter is written as a token)."""
    todo = [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.Name):
            out.add(n.id)
        elif isinstance(n, ast.Layer):
            out.add(n.word)
        if isinstance(n, (list, tuple)):
            todo += n
        elif isinstance(n, dict):
            todo += list(n.values())
        elif hasattr(n, "__dataclass_fields__"):
            todo += [getattr(n, f) for f in n.__dataclass_fields__ if f not in ("span", "kwarg_spans")]


def check_unused(program: ast.Program) -> None:
    reads: set[str] = set()
    for part in (program.sections, list(program.blocks.values()), program.defaults, program.lets, list(program.shared.values()),
                 program.input, program.init, [p.default for p in program.params if p.default is not None],
                 [a.value for v in program.variants.values() for a in v.assigns], list(getattr(program, "layers", {}).values())):
        _reads(part, reads)
    for p in program.params:
        if p.name not in reads and p.name not in IMPLICIT:
            raise ArchError(f"parameter `{p.name}` is declared but nothing in the file uses it", p.span,
                            _FOLD_HINTS.get(p.name, "use it in a layer, block or `let`, or remove it"))
    for let in program.lets:
        if let.name not in reads and let.name not in IMPLICIT:
            raise ArchError(f"`let {let.name}` is never used", let.span,
                            _FOLD_HINTS.get(let.name, "use it in a layer, block or another `let`, or remove it"))


STAGE_READS = {"s", "keep_prev"}  # read by the stage itself: the stride, NASNet's keep_prev


def _stage_options(sec: ast.Section) -> list[tuple[str, ast.Option]]:
    return [("s" if o.name == "strides" else o.name, o) for o in sec.chain.items if isinstance(o, ast.Option)]


def check_option_clash(sec: ast.Section, block: ast.BlockDef, call: ast.Layer) -> None:
    """A stage option reaches the stage's block as the argument of its name; the call giving
    that argument too (`stage unit(t=2) x[2] t=[1,6]`) would silently drop one of them."""
    given = {p.name for p, _ in zip(block.params, call.args)} | set(call.kwargs)
    for name, o in _stage_options(sec):
        if name in given:
            raise ArchError(f"stage option `{o.name}=...` and `{call.word}(...)` both give `{block.name}`'s parameter `{name}`",
                            o.span, f"give it once: as the stage option (one value per stage) or in `{call.word}(...)`")


def check_stage_options(sec: ast.Section, program: ast.Program, passed: set[str], blocks: dict[str, ast.BlockDef],
                        widths: list[tuple]) -> None:
    """After lowering a stage line: each option is an argument of a stage block (`passed`, the
    parameters they took from the stage), or a name its body, the `down` line or a `shared`
    layer reads; any other is a located error, not a silent no-op. A `c=` nothing reads may
    say the width the stage keeps anyway (`stage ln wattn(4) x[1] c=64`); `widths` holds, per
    stage, the `c` written and the width reached."""
    reads: set[str] = set()
    _reads([it for it in sec.chain.items if not isinstance(it, ast.Option)], reads)
    _reads([d for d in program.sections if d.kind == "down"] + list(program.shared.values()), reads)
    for name, o in _stage_options(sec):
        if name in passed | reads | STAGE_READS:
            continue
        if name == "c":
            wrong = next(((want, got) for want, got in widths if want != got), None)
            if wrong is None:
                continue
            raise ArchError(f"stage option `c=...` is read by nothing: it says {wrong[0]}, the stage's width is {wrong[1]}", o.span,
                            "layers and blocks take the stage width `c` as an argument (`pw(c)`, `unit(c)`) or as their "
                            "default width (`pw`, `conv3`); drop `c=` or use it")
        if blocks:
            params = sorted({p.name for b in blocks.values() for p in b.params})
            from archdsl.errors import did_you_mean

            raise ArchError(f"stage option `{o.name}=...`: block {' or '.join(f'`{b}`' for b in blocks)} has no parameter `{name}`",
                            o.span, did_you_mean(name, params) or f"parameters: {', '.join(params) or 'none'}; "
                            "a stage option reaches the stage's block as the argument of its name")
        inner = next((w for w in sorted(reads) if w in program.blocks), "unit")
        raise ArchError(f"stage option `{o.name}=...` is read by nothing on this stage line", o.span,
                        f"an inline stage body reads it by name (`conv1({name})`); a block called inside the body "
                        f"takes it only as an argument (`{inner}({name}={name})`)")
