"""Same file and seed: identical weights, summaries and IR, run after run and process after process."""

from __future__ import annotations

import json
import subprocess
import sys

import torch

import archdsl
from tests.conftest import ROOT, zoo


def weights(seed: int):
    torch.manual_seed(seed)
    return archdsl.build(zoo("resnet.arch"), "resnet18").state_dict()


def test_same_seed_same_weights():
    a, b = weights(0), weights(0)
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a)
    c = weights(1)
    assert not torch.equal(a["stem.conv.weight"], c["stem.conv.weight"])


def test_summary_identical_across_processes():
    code = "import archdsl, json; print(json.dumps(archdsl.summary('zoo/convnext.arch', 'small')))"
    outs = {subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(outs) == 1
    assert json.loads(outs.pop()) == json.loads(json.dumps(archdsl.summary(zoo("convnext.arch"), "small")))


def test_ir_identical():
    def dump(g):
        return [(n.op, n.token, n.shape, n.module_path, sorted((k, str(v)) for k, v in n.attrs.items()), n.inputs) for n in g]

    assert dump(archdsl.compile_graph(zoo("resnet.arch"), "resnet50")) == dump(archdsl.compile_graph(zoo("resnet.arch"), "resnet50"))
