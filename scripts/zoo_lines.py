"""How long each zoo file is against the reference library's model source.

    python scripts/zoo_lines.py            # markdown table on stdout

For every zoo file: its lines (all, and those that are not blank or comments) and the
lines of the module that defines its reference model in torchvision or timm (the whole
file, which may hold more than one family: the figure is what a reader opens).
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from archdsl.zoo_status import STATUS  # noqa: E402


def reference_file(ref: str) -> Path | None:
    lib, _, name = ref.partition(":")
    if lib == "tv":
        import torchvision

        fn = getattr(torchvision.models, name)
    elif lib == "timm":
        from timm.models import model_entrypoint

        fn = model_entrypoint(name)
    else:
        return None
    return Path(inspect.getsourcefile(sys.modules[fn.__module__]))  # the defining module, past decorators


def code_lines(text: str, comment: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith(comment))


def rows():
    for family, variants in sorted(STATUS.items()):
        arch = ROOT / "zoo" / f"{family}.arch"
        text = arch.read_text()
        refs = sorted({c.params for c in variants.values() if c.params != "paper"})
        files = sorted({f for f in (reference_file(r) for r in refs) if f is not None})
        ref_cell = ", ".join(f"{f.parents[1].name}/{f.parent.name}/{f.name}" for f in files) or "(paper only)"
        ref_lines = sum(len(f.read_text().splitlines()) for f in files)
        ref_code = sum(code_lines(f.read_text(), "#") for f in files)
        yield family, len(text.splitlines()), code_lines(text, "#"), ref_cell, ref_lines, ref_code


def main() -> None:
    print("| zoo file | lines | code lines | reference source | lines | code lines |")
    print("|---|---|---|---|---|---|")
    for family, n, c, ref, rn, rc in rows():
        print(f"| {family}.arch | {n} | {c} | {ref} | {rn or ''} | {rc or ''} |")


if __name__ == "__main__":
    main()
