"""Parsing from several threads at once gives exactly the serial results.

The cached Lark parser is shared by every parse; its indentation post-lexer used to keep
`paren_level`/`indent_level` on the one shared instance, so concurrent parses corrupted
each other (false `unmatched ]` and `unexpected end of file` errors)."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from archdsl.errors import ArchError
from archdsl.syntax import parse_text
from archdsl.syntax.parser import parse_set_arg, parse_source

ROOT = Path(__file__).resolve().parents[2]
ZOO = sorted(ROOT.glob("zoo/*.arch")) + sorted(ROOT.glob("zoo/blocks/*.arch"))
THREADS, ROUNDS = 4, 3


def _parse(path: Path, text: str):
    try:
        if path.parent.name == "blocks":
            return parse_source(text, str(path), library=True)
        return parse_text(text, str(path))  # with its `use` libraries (a shared parse cache)
    except ArchError as e:  # a file that fails must fail the same way in every thread
        return f"error: {e}"


def test_threads_parse_like_one():
    texts = {p: p.read_text() for p in ZOO}
    serial = {p: _parse(p, t) for p, t in texts.items()}
    assert not any(isinstance(r, str) for r in serial.values()), "every zoo file parses"
    bad_text = "arch a(x=1)\ninput 3x8x8\nstem conv3(16, [1, 2)] bn\n"
    bad = _parse(Path("bad.arch"), bad_text)
    assert isinstance(bad, str)
    start = threading.Barrier(THREADS)
    mismatches: list[str] = []

    def work(k: int) -> None:
        start.wait()
        for r in range(ROUNDS):
            order = list(texts) if (k + r) % 2 == 0 else list(reversed(texts))
            for p in order:
                if _parse(p, texts[p]) != serial[p]:
                    mismatches.append(f"thread {k} round {r}: {p.relative_to(ROOT)}")
                if _parse(Path("bad.arch"), bad_text) != bad:
                    mismatches.append(f"thread {k} round {r}: bad.arch")
                if parse_set_arg("depths=[2, (3), 4]")[0] != "depths":
                    mismatches.append(f"thread {k} round {r}: --set")

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so an interleaving bug shows up
    try:
        threads = [threading.Thread(target=work, args=(k,)) for k in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert len(ZOO) >= 41
    assert mismatches == []
