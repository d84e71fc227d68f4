"""The one error type users see.

Every mistake in a `.arch` file (or in a `--set`/`--variant` argument) becomes an
`ArchError` that knows where it happened. Its text has one fixed format::

    FILE:LINE:COL: error: WHAT
        the source line
        ^^^^
    hint: what to do about it

The CLI prints it and exits with status 1; nothing else is ever shown to the user for
bad input.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Iterable


@dataclass(frozen=True)
class Span:
    """A stretch of one source line: 1-based line and column, `length` characters."""

    file: str
    line: int
    column: int
    length: int = 1
    source_line: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class ArchError(Exception):
    """A user error located in a source file."""

    def __init__(self, message: str, span: Span | None = None, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def format(self) -> str:
        if self.span is None:
            lines = [f"error: {self.message}"]
        else:
            lines = [f"{self.span}: error: {self.message}"]
            if True:  # the source line (possibly empty) and a caret, always
                text = self.span.source_line.rstrip("\r\n").expandtabs(1)
                text = "".join(ch if ch.isprintable() else "?" for ch in text)
                if len(text) > 200:  # keep very long lines readable around the caret
                    start = max(0, self.span.column - 100)
                    text = text[start : start + 200]
                    col = self.span.column - start
                else:
                    col = self.span.column
                lines.append("    " + text)
                width = max(1, min(self.span.length, len(text) - col + 1))
                lines.append("    " + " " * (col - 1) + "^" * width)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.format()


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """A 'did you mean' hint from the closest choices, or None when nothing is close."""
    choices = sorted(set(choices))
    close = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    if not close:
        return None
    return "did you mean " + " or ".join(f"`{c}`" for c in close) + "?"


class UsageError(Exception):
    """A bad command line (argparse's complaint, a flag that needs another): `archdsl: error: ...`."""
