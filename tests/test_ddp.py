"""Training works with torch.distributed: 2 processes, gloo backend on CPU, launched by torchrun.

The ranks start from different random weights and train on different random batches;
DistributedDataParallel must broadcast rank 0's weights and average the gradients, so both
ranks end with identical parameters, the loss is finite and falls."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest
import torch

from tests.conftest import ROOT

STEPS = 8


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _torchrun(*args, timeout=240):
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc_per_node", "2",
           "--master_addr", "127.0.0.1", "--master_port", str(_free_port()), *map(str, args)]
    try:
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"torchrun did not finish in {timeout} s:\n{e.stdout}\n{e.stderr}")


def test_ddp_two_ranks_gloo(tmp_path):
    r = _torchrun(ROOT / "tests" / "ddp_worker.py", tmp_path, STEPS)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    a, b = (torch.load(tmp_path / f"rank{k}.pt") for k in (0, 1))
    assert a["world"] == b["world"] == 2
    # the ranks really started apart and saw different data
    assert any(not torch.equal(a["initial"][k], b["initial"][k]) for k in a["initial"])
    assert a["local"][0] != b["local"][0]
    # ... and end with the same weights, which moved
    assert a["params"].keys() == b["params"].keys()
    for k in a["params"]:
        assert torch.equal(a["params"][k], b["params"][k]), k
    assert any(not torch.equal(a["params"][k], a["synced"][k]) for k in a["params"] if a["params"][k].is_floating_point())
    losses = a["losses"]
    assert all(torch.isfinite(torch.tensor(losses))) and len(losses) == STEPS
    assert a["final"] < losses[0], (losses, a["final"])  # the mean loss over both ranks' batches falls


@pytest.mark.slow
def test_train_example_under_torchrun(tmp_path):
    out = tmp_path / "ema.pt"
    r = _torchrun(ROOT / "examples" / "train.py", ROOT / "zoo" / "resnet.arch", "--variant", "resnet18",
                  "--set", "depths=[1,1,1,1]", "--set", "classes=10", "--input", "3x32x32", "--fake-size", "64",
                  "--batch", "8", "--steps", "4", "--log-every", "2", "--workers", "0", "--device", "cpu", "--out", out)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "2 process(es)" in r.stdout and "step 4/4 loss" in r.stdout
    assert out.exists()
