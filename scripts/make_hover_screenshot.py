"""The editor screenshots of docs/editor.md: real hovers from `archdsl lsp`, drawn as an editor would.

    PYTHONPATH=. python scripts/make_hover_screenshot.py [--html-only]

Starts the language server (python -m archdsl lsp), opens zoo files, asks for hovers over
chosen tokens, and writes an HTML page per hover: the source (coloured by the TextMate
grammar's patterns), the hovered token underlined and the server's Markdown in a popup.
Chromium (headless) screenshots each page to docs/screenshots/editor_*.png.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# (name, zoo file, line prefix, token): the hover of each screenshot
SHOTS = [
    ("editor_hover_layer", "convnext.arch", "stage", "dw7"),
    ("editor_hover_block", "efficientnet.arch", "stage", "mbconv"),
]

SCOPE_COLOURS = {
    "comment": "#6a737d", "string": "#032f62", "storage": "#d73a49", "keyword.control": "#d73a49",
    "keyword.other.section": "#6f42c1", "keyword.operator.repeat": "#e36209", "constant": "#005cc5",
    "support.function.layer": "#22863a", "support.function.builtin": "#6f42c1", "entity": "#6f42c1",
    "variable.parameter": "#e36209",
}


def markdown_to_html(md: str) -> str:
    """The Markdown the server writes: paragraphs, **bold**, `code`, *italic* and pipe tables."""

    def inline(t: str) -> str:
        t = html.escape(t)
        t = re.sub(r"`([^`]+)`", r"<code>\1</code>", t)
        t = re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", t)
        return re.sub(r"\*([^*]+)\*", r"<i>\1</i>", t)

    out, block = [], []
    for para in md.split("\n\n"):
        lines = para.strip().splitlines()
        if lines and all(ln_.startswith("|") for ln_ in lines):
            rows = [[c.strip() for c in ln_.strip("|").split("|")] for ln_ in lines]
            head, body = rows[0], rows[2:]
            block = ["<table><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head) + "</tr>"]
            block += ["<tr>" + "".join(f"<td>{inline(c)}</td>" for c in r) + "</tr>" for r in body]
            out.append("".join(block) + "</table>")
        elif lines:
            out.append("<p>" + "<br>".join(inline(ln_) for ln_ in lines) + "</p>")
    return "\n".join(out)


def highlight(line: str, grammar: dict) -> list[tuple[int, int, str]]:
    """(start, end, colour) of the grammar's matches on one line, first pattern wins."""
    repo = grammar["repository"]
    pats = []
    for inc in grammar["patterns"]:
        entry = repo[inc["include"][1:]]
        pats += entry.get("patterns", [entry])
    taken = [None] * len(line)
    for p in pats:
        for m in re.finditer(p["match"], line):
            groups = [(m.start(), m.end(), p.get("name", ""))] if "captures" not in p else \
                [(m.start(int(k)), m.end(int(k)), v["name"]) for k, v in p["captures"].items()]
            for s, e, scope in groups:
                if any(taken[s:e]):
                    continue
                colour = next((c for k, c in SCOPE_COLOURS.items() if scope.startswith(k)), None)
                for k in range(s, e):
                    taken[k] = colour or "#24292e"
    spans, k = [], 0
    while k < len(line):
        c = taken[k]
        j = k
        while j < len(line) and taken[j] == c:
            j += 1
        spans.append((k, j, c))
        k = j
    return spans


def page(source: str, line: int, col: int, length: int, md: str, grammar: dict, title: str) -> str:
    rows = []
    for n, text in enumerate(source.splitlines(), 1):
        parts = []
        for s, e, c in highlight(text, grammar):
            piece = html.escape(text[s:e])
            if n == line and s <= col < e:  # underline the hovered token
                a = col - s
                piece = html.escape(text[s:s + a]) + f'<span class="hovered">{html.escape(text[col:col + length])}</span>' + \
                    html.escape(text[col + length:e])
            parts.append(f'<span style="color:{c}">{piece}</span>' if c else piece)
        rows.append(f'<div class="ln"><span class="no">{n}</span>{"".join(parts) or "&nbsp;"}</div>')
        if n == line:
            rows.append(f'<div style="height:0;position:relative"><div class="hover" style="left:{col + 5}ch">'
                        f'{markdown_to_html(md)}</div></div>')  # overlays the lines below, as an editor's popup does
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ margin:0; background:#f6f8fa; font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; }}
.bar {{ background:#24292e; color:#fff; padding:8px 14px; font-size:13px; }}
.editor {{ font-family: "DejaVu Sans Mono", Menlo, monospace; font-size:13px; line-height:19px; background:#fff;
          margin:0; padding:10px 0; white-space:pre; }}
.no {{ display:inline-block; width:3ch; margin-right:2ch; text-align:right; color:#bbb; }}
.hovered {{ background:#fff5b1; border-bottom:2px solid #f9c513; }}
.hover {{ white-space:normal; position:absolute; top:2px; z-index:2; max-width:760px; width:max-content;
         background:#fff; border:1px solid #c8d1dc; border-radius:4px; box-shadow:0 4px 14px rgba(0,0,0,.18);
         padding:8px 12px; font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; font-size:13px; line-height:18px; }}
.hover p {{ margin:4px 0; }} .hover code {{ background:#f3f4f6; padding:0 3px; border-radius:3px; }}
.hover table {{ border-collapse:collapse; margin:6px 0; font-family:"DejaVu Sans Mono", Menlo, monospace; font-size:12px; }}
.hover th, .hover td {{ border:1px solid #e1e4e8; padding:2px 8px; text-align:right; }}
.hover th:first-child, .hover td:first-child {{ text-align:left; }}
</style></head><body><div class="bar">{html.escape(title)} — hover from <b>archdsl lsp</b></div>
<div class="editor">{"".join(rows)}</div></body></html>"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--html-only", action="store_true", help="write the HTML pages to a temporary folder, no screenshot")
    args = ap.parse_args()
    from archdsl.lsp.stdio_client import LspClient

    grammar = json.loads((ROOT / "editors" / "textmate" / "arch.tmLanguage.json").read_text())
    tmp = Path(tempfile.mkdtemp(prefix="archdsl-hover-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with LspClient([sys.executable, "-m", "archdsl", "lsp"], cwd=ROOT, env=env) as c:
        c.initialize(ROOT)
        for name, file, prefix, token in SHOTS:
            path = ROOT / "zoo" / file
            source = path.read_text()
            uri = c.open(path)
            lines = source.splitlines()
            line = next(k for k, ln_ in enumerate(lines) if ln_.startswith(prefix))
            col = lines[line].index(token)
            r = c.at("textDocument/hover", uri, line, col + 1)
            html_path = tmp / f"{name}.html"
            html_path.write_text(page(source, line + 1, col, len(token), r["contents"]["value"], grammar, f"zoo/{file}"))
            if args.html_only:
                print(html_path)
                continue
            browser = shutil.which("chromium") or shutil.which("chromium-browser")
            if browser is None:
                print("chromium not found (apt-get install -y chromium)", file=sys.stderr)
                return 1
            out = ROOT / "docs" / "screenshots" / f"{name}.png"
            popup = 19 * (r["contents"]["value"].count("\n") + 4)
            height = 19 * max(len(lines) + 2, line + 1 + popup // 19) + 60
            subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                            "--hide-scrollbars", f"--window-size=1100,{height}", f"--screenshot={out}", html_path.as_uri()],
                           check=True, capture_output=True)
            print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
