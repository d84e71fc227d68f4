"""Layer plugins: Python modules that register their own ops (`archdsl.ops.register`).

A plugin is loaded by name from the command line (`archdsl --plugin mypkg.layers compile
net.arch`) or, for an installed package, through the entry-point group `archdsl.ops`
(loaded the first time a token is not found); never by a path written in a `.arch` file.
Its layers then work in every command: build, `compile -o` (the generated file imports the
plugin's classes from their module), render, summary and diff.
"""

from __future__ import annotations

import importlib

from archdsl.errors import ArchError, Span


def load_plugin(name: str) -> None:
    """Import plugin module `name`; a failure is a user error naming it."""
    if not name.replace(".", "").replace("_", "").isalnum() or name.startswith(".") or ".." in name:
        raise ArchError(f"bad plugin name `{name}`", Span("--plugin", 1, 1, max(1, len(name)), name),
                        "give an importable module name, e.g. --plugin mypkg.layers")
    try:
        importlib.import_module(name)
    except ImportError as e:
        raise ArchError(f"cannot load plugin `{name}`: {e}", Span("--plugin", 1, 1, max(1, len(name)), name),
                        "install the package, or put its directory on PYTHONPATH") from None
