"""Progress lines on stderr for commands that take seconds (`archdsl bench`, `archdsl zoo`).

Only when stderr is a terminal: one line, rewritten in place (`\\r` and erase-line), cleared
when the command finishes, so pipes, files and captured output never see it.
"""

from __future__ import annotations

import sys
from typing import TextIO


class Progress:
    def __init__(self, prefix: str, stream: TextIO | None = None, enabled: bool | None = None):
        self.prefix = prefix
        self.stream = stream if stream is not None else sys.stderr
        isatty = getattr(self.stream, "isatty", None)
        self.enabled = enabled if enabled is not None else bool(isatty and isatty())
        self.shown = False

    def __call__(self, text: str) -> None:
        if self.enabled:
            self.stream.write(f"\r\x1b[K{self.prefix}: {text}")
            self.stream.flush()
            self.shown = True

    def note(self, text: str) -> None:
        """A line that stays (a warning): printed whether or not stderr is a terminal."""
        self.clear()
        print(text, file=self.stream, flush=True)

    def clear(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.clear()
