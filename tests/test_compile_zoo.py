"""`torch.compile(fullgraph=True)` on every zoo file: no graph break, outputs equal to eager,
and no recompile when the batch size changes (the batch dim is marked dynamic).

Each file runs its smallest variant (fewest parameters) at the smallest of 64, 96, 128
pixels the file accepts (else its declared input), batch 2 then batch 3, with dynamo's
"eager" backend (tracing only). Files whose tracing takes more than a few seconds on the
2-core CI machine run with the slow tests. Inductor (the default backend) compiles
convnext tiny and resnet18 at batch 2.
"""

from __future__ import annotations

import functools

import pytest
import torch
from torch._dynamo.utils import counters

import archdsl
from archdsl.api import compile_graph, parse
from archdsl.backends.summary import summarize
from archdsl.cli import zoo_files
from archdsl.errors import ArchError

FILES = [f.name for f in zoo_files()]
# measured with eager-backend tracing on the shared 2-core machine: under ~7 s each
FAST = {"alexnet.arch", "convnext.arch", "deit.arch", "lenet.arch", "localvit.arch", "mlp_mixer.arch", "mnasnet.arch",
        "mobilenet_v1.arch", "mobilenet_v3.arch", "resnet.arch", "squeezenet.arch", "vgg.arch", "vit.arch"}


@functools.cache
def smallest(file: str) -> tuple[str | None, tuple[int, ...] | None]:
    """The variant with the fewest parameters, and the smallest square input it accepts."""
    program = parse(zoo_files()[FILES.index(file)])
    variants = program.variant_names or [None]
    variant = min(variants, key=lambda v: summarize(compile_graph(program, v))["params"])
    for side in (64, 96, 128):
        try:
            compile_graph(program, variant, input_shape=(3, side, side))
            return variant, (3, side, side)
        except ArchError:
            continue
    return variant, None


def _check_fullgraph(file: str) -> None:
    variant, shape = smallest(file)
    torch._dynamo.reset()
    counters.clear()
    torch.manual_seed(0)
    model = archdsl.build(zoo_files()[FILES.index(file)], variant, input_shape=shape).eval()
    shape = tuple(model.arch_info["input_shape"])
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    with torch.no_grad():
        for batch in (2, 3):
            x = torch.randn(batch, *shape)
            torch._dynamo.mark_dynamic(x, 0)
            torch.testing.assert_close(compiled(x), model(x))
    # one frame traced into one graph; the second batch size reused it (no recompile)
    assert counters["stats"]["unique_graphs"] == 1, dict(counters["stats"])
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert counters["recompiles"] == {} or not any(counters["recompiles"].values()), dict(counters["recompiles"])


@pytest.mark.parametrize("file", [f for f in FILES if f in FAST])
def test_fullgraph_eager_backend(file):
    _check_fullgraph(file)


@pytest.mark.slow
@pytest.mark.parametrize("file", [f for f in FILES if f not in FAST])
def test_fullgraph_eager_backend_large(file):
    _check_fullgraph(file)


def test_every_zoo_file_is_listed():
    assert FAST <= set(FILES) and len(FILES) >= 30


def _inductor(file: str, variant: str) -> None:
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = archdsl.build(zoo_files()[FILES.index(file)], variant, input_shape=(3, 64, 64)).eval()
    compiled = torch.compile(model, fullgraph=True)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)


def test_inductor_resnet18():
    _inductor("resnet.arch", "resnet18")  # about 40 s on the loaded 2-core machine


@pytest.mark.slow
def test_inductor_convnext_tiny():
    _inductor("convnext.arch", "tiny")  # about 60 s on the loaded 2-core machine


EXPLAIN = """
import sys, time, torch, archdsl
from archdsl.cli import zoo_files
from archdsl.api import compile_graph, parse
from archdsl.backends.summary import summarize

files = sorted(zoo_files())
models = {}
for f in files:
    program = parse(f)
    variants = program.variant_names or [None]
    models[f] = min(variants, key=lambda v: summarize(compile_graph(program, v))["params"])
for round_ in range(ROUNDS):
    for f in files:
        torch._dynamo.reset()
        with torch.device("meta"):
            model = archdsl.build(f, models[f]).eval()
        x = torch.randn(1, *model.arch_info["input_shape"], device="meta")
        t = time.perf_counter()
        out = torch._dynamo.explain(model)(x)
        print(round_, f.name, out.graph_count, out.graph_break_count, f"{time.perf_counter() - t:.1f}s", flush=True)
"""


@pytest.mark.slow
def test_explain_every_zoo_file_three_times_in_one_process():
    """Every zoo file traced by dynamo in one process, file after file in sorted order (its
    own input, `torch._dynamo.reset()` between files), three rounds: one graph each, no
    break, no failure (no state from one file leaks into the next)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    r = subprocess.run([sys.executable, "-c", EXPLAIN.replace("ROUNDS", "3")], cwd=ROOT, capture_output=True, text=True,
                       timeout=3000, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [line.split() for line in r.stdout.splitlines()]
    assert len(rows) == 3 * len(FILES)
    assert all(row[2] == "1" and row[3] == "0" for row in rows), [row for row in rows if row[2] != "1" or row[3] != "0"]
