"""`archdsl ops [TOKEN]`: the layer tokens and their arguments, read from the op registry.

Without a token: one line per layer (its written form, e.g. `conv{kernel}[/stride]`, and
its arguments with types and defaults), grouped by family. With a token (`conv`, `dw7`,
`ln`): that layer's description, example and a table of its arguments with their meaning.
"""

from __future__ import annotations

from typing import Any

from archdsl.errors import ArchError, Span

FAMILIES = ("conv", "norm", "act", "pool", "linear", "attention", "regularization", "structure")


def form(spec) -> str:
    """How a token is written: `conv{kernel}[/stride]`, `se{ratio}`, `ln`."""
    text = spec.name
    if spec.size:
        text += "{" + spec.size + "}" if spec.size_required else "[{" + spec.size + "}]"
    if spec.strided:
        text += "[/stride]"
    return text


def _default(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _arg(a) -> str:
    text = f"{a.name}:{a.type}"
    d = _default(a.default)
    return text + (f"={d}" if d else "")


def format_all() -> str:
    from archdsl import ops
    from archdsl.syntax.parser import STRUCT_KINDS

    specs = ops.user_ops()
    order = {f: i for i, f in enumerate(FAMILIES)}
    specs = sorted(specs, key=lambda s: (order.get(s.family, len(order)), s.family, s.name))
    width = max(len(form(s)) for s in specs)
    lines, family = [], None
    for s in specs:
        if s.family != family:
            family = s.family
            lines += ["" if lines else None, f"{family}:"]
        pos = [a for a in s.args if a.positional]
        kw = [a for a in s.args if not a.positional]
        args = ", ".join([_arg(a) for a in pos] + [_arg(a) for a in kw])
        lines.append(f"  {form(s):<{width}}  ({args})" if args else f"  {form(s)}")
    lines = [x for x in lines if x is not None]
    lines += ["", "structures (a word and `:`): " + ", ".join(f"{k}:" for k in STRUCT_KINDS),
              "", "`archdsl ops TOKEN` describes one layer; docs/language.md has them all."]
    return "\n".join(lines)


def format_one(token: str) -> str:
    from archdsl import ops

    found = ops.lookup(token)
    if found is None:
        from archdsl.syntax.hints import alias_hint

        raise ArchError(f"unknown layer `{token}`", Span(token, 1, 1, max(1, len(token)), token),
                        alias_hint(token) or ops.suggest(token) or "`archdsl ops` lists every layer")
    s = found[0]
    lines = [f"{form(s)}  ({s.family})", "", s.doc]
    if s.example:
        lines += ["", f"example: {s.example}"]
    if s.size:
        req = "required" if s.size_required else "optional"
        lines += [f"size suffix: {s.size} ({s.size_type}, {req}), e.g. `{s.name}{'7' if s.size_type != 'float' else '0.25'}`"]
    if s.strided:
        lines += ["stride suffix: `/2` (or `/s` with a name)"]
    if s.args:
        rows = [("argument", "type", "default", "meaning")]
        for a in s.args:
            rows.append((a.name + (" (positional)" if a.positional else ""), a.type, _default(a.default) or "-", a.doc))
        w = [max(len(r[i]) for r in rows) for i in range(3)]
        lines.append("")
        lines += [f"  {r[0]:<{w[0]}}  {r[1]:<{w[1]}}  {r[2]:<{w[2]}}  {r[3]}".rstrip() for r in rows]
    else:
        lines += ["", "no arguments"]
    return "\n".join(lines)
