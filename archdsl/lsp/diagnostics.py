"""ArchError -> LSP diagnostic: the CLI's message at its range, with its hint.

An error located in another file (a block library the document `use`s) is shown at the
`use` line that imports it, with the library's location in the message and as related
information; an error without a location sits on the first line.
"""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from archdsl.errors import ArchError
from archdsl.lsp.analysis import Analysis, use_target
from archdsl.lsp.positions import span_range

SOURCE = "archdsl"


def diagnostics(a: Analysis, all_variants: bool = True) -> list[types.Diagnostic]:
    errors = list(a.errors) + (a.variant_errors() if all_variants else [])
    out, seen = [], set()
    for err, variant in errors:
        d = to_diagnostic(err, a, variant)
        key = (d.range.start.line, d.range.start.character, d.message)
        if key not in seen:
            seen.add(key)
            out.append(d)
    return out


def to_diagnostic(err: ArchError, a: Analysis, variant: str | None = None) -> types.Diagnostic:
    message = err.message
    if variant is not None:
        message = f"in variant `{variant}`: {message}"
    if err.hint:
        message += f"\nhint: {err.hint}"
    related = None
    span = err.span
    if span is not None and span.file == a.file:
        rng = span_range(span, a.line_text(span.line))
    else:
        rng = _fallback_range(err, a)
        if span is not None:
            message = f"{span}: {message}"
            uri = Path(span.file).resolve().as_uri()
            related = [types.DiagnosticRelatedInformation(types.Location(uri, span_range(span)), err.message)]
    return types.Diagnostic(range=rng, message=message, severity=types.DiagnosticSeverity.Error, source=SOURCE,
                            related_information=related)


def _fallback_range(err: ArchError, a: Analysis) -> types.Range:
    """Where to show an error from elsewhere: the `use` line, else the `arch` header, else line 1."""
    p = a.program
    if p is not None and err.span is not None:
        uses = [u for u in p.uses if u.span.file == a.file]
        where = Path(err.span.file).resolve()
        for use in sorted(uses, key=lambda u: use_target(u, a.file) != where):  # the library's own `use` first
            return span_range(use.span, a.line_text(use.span.line))
    if p is not None and p.span.file == a.file:
        return span_range(p.span, a.line_text(p.span.line))
    return types.Range(types.Position(0, 0), types.Position(0, max(1, len(a.line_text(1)))))
