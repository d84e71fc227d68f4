"""Source spans (1-based line and column, in characters) <-> LSP ranges (0-based).

The ranges made here count characters; the server converts them to the client's position
encoding (UTF-16 by default) with the document's codec, so a non-ASCII comment does not
shift a caret.
"""

from __future__ import annotations

from lsprotocol import types

from archdsl.errors import Span


def span_range(span: Span, line_text: str | None = None) -> types.Range:
    """The range a span covers (clipped to its line when the line is known)."""
    line = max(0, span.line - 1)
    start = max(0, span.column - 1)
    end = start + max(1, span.length)
    text = span.source_line if line_text is None else line_text
    if text and end > len(text):
        end = max(start + 1, len(text.rstrip("\r\n")))
    return types.Range(types.Position(line, start), types.Position(line, end))


def line_range(lines: list[str], first: int, last: int) -> types.Range:
    """Whole lines `first`..`last` (1-based, inclusive)."""
    end_text = lines[last - 1] if 0 < last <= len(lines) else ""
    return types.Range(types.Position(first - 1, 0), types.Position(last - 1, len(end_text)))


def word_before(line_text: str, char: int) -> str:
    """The identifier-ish text (letters, digits, `_`, `.`) ending at a 0-based character."""
    k = char
    while k > 0 and (line_text[k - 1].isalnum() or line_text[k - 1] in "_."):
        k -= 1
    return line_text[k:char]
