"""Pass `resolve_parameters`: the arch's declared parameters, a variant, and overrides -> values.

Runs before lowering. Every value is type-checked against its declaration (explicit, or
inferred from the default), and every failure points at the text that supplied it: the
header default, the variant line, or the `--set` argument.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from archdsl.errors import ArchError, Span, did_you_mean
from archdsl.ir.values import TYPES, BlockRef, Env, conforms, describe, evaluate, infer_type
from archdsl.syntax import ast


@dataclass
class SetArg:
    """One `--set NAME=VALUE` from the command line, already parsed."""

    name: str
    value: ast.Expr
    span: Span  # within the pseudo-file `--set`
    text: str


@dataclass
class Override:
    """A value for a `let` or for a `default` line's argument, from the command line or
    `build(**overrides)`: an expression (evaluated where the file's own would be) or a value."""

    value: Any  # an ast.Expr (from --set) or a Python value
    span: Span
    source: str


@dataclass
class Resolved:
    values: dict[str, Any]
    types: dict[str, str]
    spans: dict[str, Span]  # where each final value came from
    implicit_depths: ast.Section | None  # the stage line whose x[...] is `depths`
    variant: str | None = None  # the variant applied (the first one when none was asked for)
    lets: dict[str, Override] | None = None  # `let` name -> its override
    defaults: dict[tuple[str, str], Override] | None = None  # (layer or `residual`, argument) -> its override


def implicit_depths_section(program: ast.Program) -> ast.Section | None:
    """The single stage line whose trailing `x[...]` literal defines the `depths` parameter."""
    found = []
    for sec in program.sections:
        if sec.kind != "stage":
            continue
        body = [it for it in sec.chain.items if not isinstance(it, ast.Option)]
        if body and isinstance(body[-1], ast.Repeat) and body[-1].per_stage and isinstance(body[-1].count, ast.ListExpr):
            found.append(sec)
    return found[0] if len(found) == 1 else None


def resolve_parameters(program: ast.Program, variant: str | None = None,
                       overrides: dict[str, Any] | None = None, set_args: list[SetArg] | None = None) -> Resolved:
    params = list(program.params)
    implicit = implicit_depths_section(program)
    declared = {p.name for p in params}
    if implicit is not None:
        rep = [it for it in implicit.chain.items if not isinstance(it, ast.Option)][-1]
        if "depths" in declared:
            raise ArchError("`depths` is declared in the header and also written on the stage line", rep.span,
                            "write the counts once: either `x[3,3,9,3]` here, or `x(depths)` with the header default")
        params.append(ast.Param("depths", "list[int]", rep.count, rep.span))

    env = Env()
    values: dict[str, Any] = {}
    types: dict[str, str] = {}
    spans: dict[str, Span] = {}
    for p in params:
        if p.default is None:  # pragma: no cover - the grammar requires defaults in the header
            raise ArchError(f"parameter `{p.name}` needs a default", p.span)
        v = evaluate(p.default, env, program.blocks)
        if p.type is not None:
            if p.type not in TYPES:
                raise ArchError(f"unknown type `{p.type}`", p.span, did_you_mean(p.type, TYPES) or "types: " + ", ".join(TYPES))
            typ = p.type
        else:
            typ = infer_type(v)
        if not conforms(v, typ):
            raise ArchError(f"default of `{p.name}` is {describe(v)}, not {typ}", p.default.span)
        values[p.name] = v
        types[p.name] = typ
        spans[p.name] = p.default.span
        env.values[p.name] = v

    let_names = {let.name for let in program.lets}
    let_overrides: dict[str, Override] = {}
    default_overrides: dict[tuple[str, str], Override] = {}

    def assign(name: str, expr_or_value: Any, span: Span, source: str, value_span: Span | None = None) -> None:
        if "." in name:  # `ln.eps`: an argument of every use of a layer kind, as a `default` line sets it
            layer, _, arg = name.partition(".")
            default_overrides[(layer, arg)] = Override(expr_or_value, span, source)
            return
        if name not in values and name in let_names:  # a `let`: its value replaced, type-checked where it is evaluated
            let_overrides[name] = Override(expr_or_value, span, source)
            return
        if name not in values:
            raise ArchError(f"unknown parameter `{name}` {source}", span,
                            did_you_mean(name, [*values, *let_names]) or _param_list(values, let_names))
        if isinstance(expr_or_value, ast.Expr.__args__):  # type: ignore[attr-defined]
            _check_bare_word(name, expr_or_value, types[name], values[name], env, program, source)
            v = evaluate(expr_or_value, env, program.blocks)
            value_span = expr_or_value.span
        else:
            v = expr_or_value
            if types[name] == "block" and isinstance(v, str):
                if v not in program.blocks:
                    raise ArchError(f"`{name}` must name a block, and `{v}` is not defined {source}", span,
                                    did_you_mean(v, program.blocks) or "blocks: " + ", ".join(program.blocks))
                v = BlockRef(v)
            if isinstance(v, tuple):
                v = list(v)
        typ = types[name]
        if typ == "float" and isinstance(v, int) and not isinstance(v, bool):
            v = float(v)
        if not conforms(v, typ):
            raise ArchError(f"`{name}` must be {typ}, got {describe(v)} {source}", value_span or span,
                            f"the default is {_fmt(values[name])}")
        values[name] = v
        env.values[name] = v
        spans[name] = value_span or span

    if variant is None and program.variants:  # the first variant is the file's default model
        variant = next(iter(program.variants))
    if variant is not None:
        if variant not in program.variants:
            names = list(program.variants)
            hint = did_you_mean(variant, names) or ("variants: " + ", ".join(names) if names else "this file defines no variants")
            raise ArchError(f"unknown variant `{variant}` of `{program.name}`", program.span, hint)
        for a in program.variants[variant].assigns:
            assign(a.name, a.value, a.span, f"in variant `{variant}`")
    for name, value in (overrides or {}).items():
        assign(name, value, program.span, "in overrides")
    for s in set_args or []:
        assign(s.name, s.value, s.span, "in --set")
    return Resolved(values, types, spans, implicit, variant, let_overrides, default_overrides)


def _check_bare_word(name: str, e: ast.Expr, typ: str, default: Any, env: Env, program: ast.Program, source: str) -> None:
    """`--set classes=ten`: a bare word that names nothing is a wrong value for `classes`,
    not a name to declare."""
    from archdsl.ir.values import CONSTANTS

    if not isinstance(e, ast.Name) or e.id in env or e.id in CONSTANTS or e.id in program.blocks:
        return
    if typ == "block":
        hint = did_you_mean(e.id, program.blocks) or "blocks: " + (", ".join(program.blocks) or "none defined")
    elif typ == "str":
        hint = f'a string is quoted: {name}="{e.id}"'
    else:
        close = did_you_mean(e.id, env.names())
        example = f"{name}={_fmt(default)}"
        hint = f"`{name}` takes {_TYPE_WORDS.get(typ, typ)}, e.g. {example}" + (f"; or {close[0].lower()}{close[1:]}" if close else "")
    raise ArchError(f"`{e.id}` is not a value for `{name}` ({typ}) {source}", e.span, hint)


_TYPE_WORDS = {"int": "an integer", "float": "a number", "bool": "true or false", "list": "a list", "list[int]": "a list of integers",
               "list[float]": "a list of numbers"}


def _param_list(values: dict[str, Any], lets: set[str] | None = None) -> str:
    text = "parameters: " + ", ".join(values) if values else "this arch declares no parameters"
    if lets:
        text += "; lets: " + ", ".join(sorted(lets))
    return text + "; a layer's argument is LAYER.ARG, e.g. ln.eps=1e-5"


def _fmt(v: Any) -> str:
    from archdsl.ir.values import format_value

    return format_value(v)
