"""Write docs/language.md: the hand-written introduction plus the token table, generated
from the op registry so it cannot drift from the compiler. Run after adding a layer kind."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archdsl import ops  # noqa: E402


def token_table() -> str:
    rows = ["| token | family | meaning | arguments |", "|---|---|---|---|"]
    for spec in sorted(ops.user_ops(), key=lambda s: (s.family, s.name)):
        form = spec.name
        if spec.size:
            form += "{" + spec.size + "}"
        if spec.strided:
            form += "[/stride]"
        args = ", ".join(f"`{a.name}`" + (f"={a.default}" if a.default is not None else "") for a in spec.args) or "-"
        example = f" e.g. `{spec.example}`" if spec.example else ""
        rows.append(f"| `{form}` | {spec.family} | {spec.doc}{example} | {args} |")
    return "\n".join(rows)


def render() -> str:
    intro = (ROOT / "docs" / "language.intro.md").read_text()
    return intro.rstrip() + "\n\n" + token_table() + "\n"


if __name__ == "__main__":
    (ROOT / "docs" / "language.md").write_text(render())
