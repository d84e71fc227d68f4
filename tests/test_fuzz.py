"""Fuzzing: mutated zoo files (and the seeds in tests/fuzz_seeds/) either compile (and build
on the meta device) or fail with an ArchError — never another exception, a hang, or a huge
allocation.

500 cases in the default suite (plus 200 from the seeds alone, 150 through the CLI); the slow
job runs 5,000.
"""

from __future__ import annotations

import contextlib
import io
import re
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archdsl
from archdsl.backends.load import build_module
from archdsl.cli import main
from archdsl.errors import ArchError
from tests.conftest import ZOO

# seeds: the zoo, and tests/fuzz_seeds/ for syntax the zoo does not use yet (structures as
# chain items: `[residual: ...] x(s == 1)`, `residual: add: [a] [b]`, open structures)
SEEDS = Path(__file__).parent / "fuzz_seeds"
SOURCES = {p.name: p.read_text() for p in sorted(ZOO.glob("*.arch")) + sorted(SEEDS.glob("*.arch"))}
TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_.]*|\d+(?:\.\d+)?(?:e-?\d+)?|\s+|.", re.S)
VOCAB = sorted({t for s in SOURCES.values() for t in TOKEN.findall(s) if t.strip()})
NUMBERS = st.sampled_from(["0", "-1", "1", "2", "3", "7", "1000", "99999999", "1e9", "0.5", "[]", "[0]", "[1,2]"])


@st.composite
def mutated(draw, names: tuple[str, ...] = tuple(sorted(SOURCES))):
    name = draw(st.sampled_from(names))
    toks = TOKEN.findall(SOURCES[name])
    for _ in range(draw(st.integers(1, 3))):
        if not toks:
            break
        k = draw(st.integers(0, len(toks) - 1))
        kind = draw(st.sampled_from(["delete", "dup", "swap", "number", "word", "byte", "newline"]))
        if kind == "delete":
            del toks[k]
        elif kind == "dup":
            toks.insert(k, toks[k])
        elif kind == "swap":
            j = draw(st.integers(0, len(toks) - 1))
            toks[k], toks[j] = toks[j], toks[k]
        elif kind == "number":
            toks[k] = draw(NUMBERS)
        elif kind == "word":
            toks[k] = draw(st.sampled_from(VOCAB))
        elif kind == "byte":
            toks.insert(k, draw(st.sampled_from(["\x00", "\t", "\\", '"', "'", "{", "é", "\x7f", ":", "=", "(", "]"])))
        else:
            toks.insert(k, "\n" + " " * draw(st.integers(0, 9)))
    return name, "".join(toks)


def check_one(text: str) -> None:
    try:
        g = archdsl.compile_graph(text)
        with torch.device("meta"):
            build_module(g)
    except ArchError as e:
        e.format()  # formatting a message must not fail either


@pytest.mark.parametrize("path", sorted(SEEDS.glob("*.arch")), ids=lambda p: p.name)
def test_seeds_build_and_are_formatted(path):
    """A seed starts valid, so its mutations reach the lowering, not only the parser."""
    from archdsl.syntax.format import format_source

    text = path.read_text()
    assert format_source(text) == text
    g = archdsl.compile_graph(text)
    with torch.device("meta"):
        build_module(g)


COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@settings(max_examples=500, **COMMON)
@given(mutated())
def test_mutations_compile_or_fail_cleanly(case):
    check_one(case[1])


SEED_NAMES = tuple(sorted(p.name for p in SEEDS.glob("*.arch")))


@settings(max_examples=200, **COMMON)
@given(mutated(SEED_NAMES))
def test_seed_mutations_compile_or_fail_cleanly(case):
    """The seeds alone: among the zoo's 40-odd files they would get a few cases each."""
    check_one(case[1])


@pytest.mark.slow
@settings(max_examples=5000, **COMMON)
@given(mutated())
def test_mutations_compile_or_fail_cleanly_many(case):
    check_one(case[1])


@settings(max_examples=150, **COMMON)
@given(mutated())
def test_cli_never_prints_a_traceback(case):
    """Through the command line a mutation exits 0 or 1 with a message, never 2."""
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / case[0]
        path.write_bytes(case[1].encode("utf-8", "surrogateescape"))
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            rc = main(["check", str(path)])
    assert rc in (0, 1), err.getvalue()
    assert "Traceback" not in err.getvalue() and "internal error" not in err.getvalue()
    if rc == 1:
        assert err.getvalue().startswith(str(path)), err.getvalue()
