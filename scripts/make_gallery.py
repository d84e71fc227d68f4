"""Regenerate docs/gallery: depth-0 and depth-1 SVG diagrams of every zoo file, and an index.

    PYTHONPATH=. python scripts/make_gallery.py [--check]

Each zoo file is drawn with its first variant (the one `archdsl render` uses by default).
Files are written only when their bytes change, so a rerun on an unchanged zoo leaves git
clean. `--check` writes nothing and exits 1 when the gallery is out of date (for CI).
Needs the Graphviz `dot` program.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import archdsl  # noqa: E402
from archdsl.backends.graphviz import fmt_count  # noqa: E402
from archdsl.backends.summary import summarize  # noqa: E402
from archdsl.cli import reference_of  # noqa: E402

GALLERY = ROOT / "docs" / "gallery"
DEPTHS = (0, 1)


def svg_bytes(g, depth: int) -> bytes:
    return archdsl.backends.graphviz.draw(g, depth=depth).pipe(format="svg")


def build() -> dict[Path, bytes]:
    """Every gallery file and its content."""
    files: dict[Path, bytes] = {}
    rows = []
    for path in sorted((ROOT / "zoo").glob("*.arch")):
        program = archdsl.parse(path)
        variant = program.variant_names[0] if program.variant_names else None
        g = archdsl.compile_graph(program, variant)
        s = summarize(g)
        names = []
        for depth in DEPTHS:
            name = f"{path.stem}_depth{depth}.svg"
            files[GALLERY / name] = svg_bytes(g, depth)
            names.append(name)
        others = ", ".join(v for v in program.variant_names[1:]) or "-"
        rows.append((path.name, variant or "-", others, s, reference_of(program.source), names))
    lines = [
        "# Zoo gallery",
        "",
        "Diagrams of every zoo model, generated from the IR by `scripts/make_gallery.py`",
        "(do not edit by hand; rerun the script after changing the zoo or the renderer).",
        "Depth 0 shows stem, stages and head with repeat counts; depth 1 expands one block per",
        "stage. Draw any variant yourself with",
        "`archdsl render zoo/FILE.arch --variant V --depth 0|1|full -o OUT.svg`.",
        "",
        "| file | variant drawn | params | MACs | depth 0 | depth 1 | other variants |",
        "|---|---|---:|---:|---|---|---|",
    ]
    for file, variant, others, s, ref, (d0, d1) in rows:
        lines.append(f"| `{file}` | {variant} | {fmt_count(s['params'])} | {fmt_count(s['macs'])} | "
                     f"[svg]({d0}) | [svg]({d1}) | {others} |")
    lines.append("")
    for file, variant, others, s, ref, (d0, d1) in rows:
        lines += [f"## {file} ({variant})", ""]
        if ref:
            lines += [f"Reference: {ref}", ""]
        lines += [f"![{file} depth 0]({d0})", "", f"![{file} depth 1]({d1})", ""]
    files[GALLERY / "README.md"] = "\n".join(lines).encode("utf-8")
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if the checked-in gallery is out of date")
    args = ap.parse_args(argv)
    files = build()
    stale = [p for p, data in files.items() if not p.exists() or p.read_bytes() != data]
    extra = [p for p in GALLERY.glob("*") if p not in files] if GALLERY.exists() else []
    if args.check:
        for p in stale + extra:
            print(f"out of date: {p.relative_to(ROOT)}")
        return 1 if stale or extra else 0
    GALLERY.mkdir(parents=True, exist_ok=True)
    for p in stale:
        p.write_bytes(files[p])
        print(f"wrote {p.relative_to(ROOT)}")
    for p in extra:
        p.unlink()
        print(f"removed {p.relative_to(ROOT)}")
    print(f"gallery: {len(files)} files, {len(stale)} written, {len(extra)} removed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
