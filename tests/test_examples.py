"""The scripts in examples/ run as documented."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def _run(*args, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, *map(str, args)], cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)


def test_custom_layer_example():
    # a subprocess: the example registers `grn` into the global registry, which must not leak into other tests
    r = _run(ROOT / "examples" / "custom_layer.py")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("params ") and "output (2, 10)" in lines[0]
    assert "stages.0.blocks.0.grn" in lines[0]
    assert "error: `grn` needs an image" in r.stdout and "hint:" in r.stdout
