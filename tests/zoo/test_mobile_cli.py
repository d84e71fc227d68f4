"""`archdsl compile --json` on the mobile/efficient zoo files, in a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT, zoo

FILES = {
    "mobilenet_v2.arch": ["mobilenet_v2"], "mobilenet_v3.arch": ["large", "small"],
    "mnasnet.arch": ["mnasnet0_5", "mnasnet1_0"], "efficientnet.arch": [f"b{k}" for k in range(8)],
    "efficientnet_v2.arch": ["s", "m", "l"],
    "regnet.arch": ["x_400mf", "x_800mf", "x_1_6gf", "y_400mf", "y_800mf", "y_1_6gf", "y_8gf"],
}


def test_compile_json_for_every_variant():
    # One interpreter (starting torch costs seconds) runs `archdsl compile ... --json` for
    # each of the 23 variants, then once per file without --variant (the first variant).
    script = (
        "import json, sys\nfrom archdsl.cli import main\n"
        "for args in json.loads(sys.argv[1]):\n"
        "    assert main(['compile', *args, '--json']) == 0\n"
    )
    runs = [[str(zoo(f)), "--variant", v] for f, vs in FILES.items() for v in vs] + [[str(zoo(f))] for f in FILES]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", script, json.dumps(runs)], capture_output=True, text=True, env=env, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    reports = [json.loads(line) for line in out.stdout.splitlines()]
    named, default = reports[:-len(FILES)], reports[-len(FILES):]
    assert [(r["name"], r["variant"]) for r in named] == [(f[:-5], v) for f, vs in FILES.items() for v in vs]
    assert [r["variant"] for r in default] == [vs[0] for vs in FILES.values()]
    for r in named:
        assert r["params"] > 0 and r["macs"] > 0 and r["output_shape"] == [1, 1000]
    sizes = {r["variant"]: r["input_shape"][-1] for r in named if r["name"] == "efficientnet"}
    assert sizes == {"b0": 224, "b1": 240, "b2": 260, "b3": 300, "b4": 380, "b5": 456, "b6": 528, "b7": 600}
