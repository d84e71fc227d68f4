"""The scripts in examples/ run as documented."""

from __future__ import annotations

import importlib.util
import math
import os
import subprocess
import sys

import torch

import archdsl
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


def test_train_example_on_fake_data(tmp_path):
    out = tmp_path / "ema.pt"
    r = _run(ROOT / "examples" / "train.py", ROOT / "zoo" / "convnext.arch", "--set", "depths=[1,1,1,1]", "--set", "dims=[16,32,64,128]",
             "--set", "classes=10", "--set", "drop_path=0.1", "--input", "3x32x32", "--fake-size", "48", "--batch", "8",
             "--steps", "4", "--log-every", "2", "--lr", "0.5", "--workers", "0", "--device", "cpu", "--out", out)
    assert r.returncode == 0, r.stderr[-3000:]
    lines = r.stdout.splitlines()
    assert lines[0].startswith("convnext_tiny: 0.23M params, input 3x32x32, 48 training images, 1 process(es)")
    progress = [line for line in lines if " loss " in line]
    assert [line.split()[3] for line in progress] == ["2/4", "4/4"]
    assert all(math.isfinite(float(line.split()[5])) for line in progress)
    assert any("val top-1" in line for line in lines)
    model = archdsl.build(ROOT / "zoo" / "convnext.arch", depths=[1, 1, 1, 1], dims=[16, 32, 64, 128], classes=10,
                          input_shape=(3, 32, 32))
    model.load_state_dict(torch.load(out))  # the saved EMA weights fit the same architecture


def test_train_example_without_ema_prints_no_ema_figure():
    """`--ema 0` turns the EMA off: the validation line has no "(EMA nan%)" (issue 20, bug 10)."""
    r = _run(ROOT / "examples" / "train.py", ROOT / "zoo" / "convnext.arch", "--set", "depths=[1,1,1,1]", "--set", "dims=[16,32,64,128]",
             "--set", "classes=10", "--input", "3x32x32", "--fake-size", "16", "--batch", "8", "--steps", "2", "--log-every", "2",
             "--workers", "0", "--device", "cpu", "--ema", "0")
    assert r.returncode == 0, r.stderr[-3000:]
    val = [line for line in r.stdout.splitlines() if "val top-1" in line]
    assert val and all("EMA" not in line and "nan" not in line for line in val), val


def test_train_example_scheduler():
    spec = importlib.util.spec_from_file_location("train_example", ROOT / "examples" / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    f = mod.warmup_cosine(10, 110, 0.01)
    assert f(0) == 0.1 and f(9) == 1.0  # linear warm-up
    assert f(10) == 1.0 and abs(f(60) - (0.01 + 0.99 * 0.5)) < 1e-12 and abs(f(110) - 0.01) < 1e-12  # cosine to min
