"""`import archdsl`, `archdsl --help`, `archdsl fmt` and `archdsl check` do not import torch
(nor networkx, nor package metadata: each is a large share of a command that should take a
fraction of a second; benchmarks/bench_cli.py measures the wall time)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import ROOT, zoo

PROBE = """
import sys
from archdsl.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
import json
print(json.dumps(sorted(m for m in ("torch", "networkx", "importlib.metadata") if m in sys.modules)))
"""


def _heavy_imports(argv: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], cwd=ROOT, capture_output=True, text=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _imports_torch(argv: list[str]) -> bool:
    return "torch" in _heavy_imports(argv)


def test_help_and_fmt_do_not_import_torch():
    assert not _imports_torch(["--help"])
    assert not _imports_torch(["--version"])
    assert not _imports_torch(["fmt", "--check", str(zoo("resnet.arch"))])


def test_check_does_not_import_torch():
    # parse, lower, check shapes: the op registry describes layers as source, no torch needed
    assert not _imports_torch(["check", str(zoo("convnext.arch"))])
    assert not _imports_torch(["check", str(zoo("nasnet.arch"))])


def test_check_imports_neither_networkx_nor_metadata():
    # the IR keeps its own reader index; `Graph.graph` builds the networkx view when asked for,
    # and `--version` reads torch's version from metadata only when it is given
    assert _heavy_imports(["check", str(zoo("convnext.arch"))]) == []
    assert _heavy_imports(["fmt", "--check", str(zoo("convnext.arch"))]) == []
    assert _heavy_imports(["--version"]) == ["importlib.metadata"]


def test_public_names_load_lazily():
    import archdsl

    assert callable(archdsl.build) and callable(archdsl.load_reference) and "build" in dir(archdsl)
    try:
        archdsl.no_such_name  # noqa: B018
    except AttributeError:
        pass
    else:
        raise AssertionError("unknown attributes must raise AttributeError")
