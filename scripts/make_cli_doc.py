"""Regenerate docs/cli.md, the command-line reference, from archdsl.cli's argparse parser.

    PYTHONPATH=. python scripts/make_cli_doc.py [--check]

Every subcommand gets its one-line purpose, its usage line and a table of its arguments
(taken from the parser's actions, so nothing is typed twice). `--check` writes
nothing and exits 1 when docs/cli.md is out of date; tests/test_docs_site.py runs it.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archdsl import cli  # noqa: E402

PAGE = ROOT / "docs" / "cli.md"
WIDTH = "100"  # argparse wraps help text to $COLUMNS; fix it so the page does not depend on the terminal


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def _arguments(parser: argparse.ArgumentParser) -> list[str]:
    rows = ["| argument | default | meaning |", "|---|---|---|"]
    for a in parser._actions:
        if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        if a.option_strings:
            name = ", ".join(f"`{o}`" for o in a.option_strings)
            if a.nargs != 0:
                name += f" `{a.metavar or a.dest.upper()}`"
        else:
            name = f"`{a.metavar or a.dest}`" + (" ..." if a.nargs in ("+", "*") else "")
        default = "" if a.default in (None, False, [], argparse.SUPPRESS) else f"`{a.default}`"
        meaning = a.help or ""
        if a.choices:
            meaning += (" " if meaning else "") + "one of " + ", ".join(f"`{c}`" for c in a.choices)
        if a.required and a.option_strings:
            meaning += " (required)"
        rows.append(f"| {name} | {default} | {_cell(meaning)} |")
    return rows


def render() -> str:
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        parser = cli.make_parser()
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        helps = {c.dest: c.help for c in sub._choices_actions}
        lines = [
            "# Command-line reference",
            "",
            "Generated from the argument parser in `archdsl/cli.py` by `scripts/make_cli_doc.py`;",
            "do not edit by hand. Exit status: 0 success, 1 a user error (a located message, never",
            "a traceback), 2 an internal error (a bug; `--debug` shows the traceback).",
            "",
            "```text",
            parser.format_help().rstrip(),
            "```",
            "",
        ]
        for name, p in sub.choices.items():
            purpose = _cell(helps.get(name) or "")
            lines += [f"## archdsl {name}", "", purpose[:1].upper() + purpose[1:] + ".", ""]
            lines += ["```text", p.format_usage().rstrip(), "```", ""]
            lines += _arguments(p) + [""]
        return "\n".join(lines)
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if docs/cli.md is out of date; write nothing")
    args = ap.parse_args()
    text = render()
    current = PAGE.read_text() if PAGE.exists() else None
    if args.check:
        if current != text:
            print("docs/cli.md is out of date: run python scripts/make_cli_doc.py", file=sys.stderr)
            return 1
        return 0
    if current != text:
        PAGE.write_text(text)
        print("wrote docs/cli.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
