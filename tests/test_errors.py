"""Bad-input corpus: each tests/errors/NAME.arch must fail with exactly NAME.err.

`NAME.args` (optional) holds extra command-line arguments; `@missing` in it means
"run on a file that does not exist", `@path=P` "run on P (relative to the repository)
instead of NAME.arch", `@name WORD` "run on the name WORD instead of the file" (a zoo model
name, or a typo of one), and a leading `@COMMAND` (`@render`, `@fmt`, ...) or
`@command=COMMAND` runs that command instead of `compile` (e.g. `@command=fit --params 50M
--vary dims`). `@plugin=MODULE` first loads a plugin (`archdsl --plugin MODULE ...`, e.g. one
of tests/plugins/); the ops it registers are removed after the case. Run with ARCHDSL_ACCEPT=1 to rewrite the .err files (then read the diff: the
messages are part of the product).
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path

import pytest

from archdsl.cli import main
from archdsl.ops.registry import REGISTRY

ROOT = Path(__file__).resolve().parents[1]
CASES = sorted((ROOT / "tests" / "errors").glob("*.arch"))


def run_case(case: Path, capsys) -> tuple[int, str, str]:
    rel = case.relative_to(ROOT)
    args_file = case.with_suffix(".args")
    extra = shlex.split(args_file.read_text()) if args_file.exists() else []
    command = "compile"
    plugins: list[str] = []
    while extra[:1] and extra[0].startswith("@plugin="):
        plugins += ["--plugin", extra[0].split("=", 1)[1]]
        extra = extra[1:]
    if extra[:1] == ["@missing"]:
        rel, extra = rel.with_name("does_not_exist.arch"), extra[1:]
    if extra[:1] and extra[0].startswith("@path="):
        rel, extra = Path(extra[0][len("@path="):]), extra[1:]
    if extra[:1] and extra[0].startswith("@command="):
        command, extra = extra[0].split("=", 1)[1], extra[1:]
    if extra[:1] == ["@name"]:
        rel, extra = extra[1], extra[2:]
    if extra[:1] and extra[0].startswith("@") and extra[0] != "@name":
        command, extra = extra[0][1:], extra[1:]
    if extra[:1] == ["@name"]:
        rel, extra = extra[1], extra[2:]
    cwd = os.getcwd()
    os.chdir(ROOT)
    registered, modules = dict(REGISTRY), set(sys.modules)
    try:
        rc = main([*plugins, command, str(rel), *extra])
    finally:
        os.chdir(cwd)
        if plugins:  # a plugin's ops would show in every later test (the op listing, the docs)
            REGISTRY.clear()
            REGISTRY.update(registered)
            for name in set(sys.modules) - modules:
                if name.startswith("tests.plugins."):
                    del sys.modules[name]
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_error_message(case: Path, capsys):
    rc, out, err = run_case(case, capsys)
    expected_file = case.with_suffix(".err")
    if os.environ.get("ARCHDSL_ACCEPT"):
        expected_file.write_text(err)
    assert rc == 1, f"exit status {rc}\n{err}"
    assert out == ""
    assert "Traceback" not in err and "internal error" not in err
    first = err.splitlines()[0]
    assert first.split(":")[1].isdigit() and first.split(":")[2].isdigit(), "message must start FILE:LINE:COL"
    assert "^" in err, "message must show a caret under the source"
    assert err == expected_file.read_text()


def test_corpus_is_large_enough():
    assert len(CASES) >= 20
