"""The ResNet-50 -> ConvNeXt-T modernization walk (docs/tutorial/resnet_to_convnext):
the first step is exactly ResNet-50, the last exactly ConvNeXt-T, every step builds, each
step is a small change from the one before, and the generated README table is current."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

import pytest
import torch
import torchvision

import archdsl
from tests.conftest import ROOT, assert_same_outputs, meta_params, randomize_batchnorm

WALK = ROOT / "docs" / "tutorial" / "resnet_to_convnext"
STEPS = sorted(WALK.glob("[0-9][0-9]_*.arch"))
SEEDS = Path("/work/shared/seeds")
MAX_CHANGED_LINES = 6  # code lines (comments aside) removed or added between two steps, each way


def _script():
    spec = importlib.util.spec_from_file_location("make_walk_table", ROOT / "scripts" / "make_walk_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_walk_has_eleven_numbered_steps():
    assert [p.name[:2] for p in STEPS] == [f"{k:02d}" for k in range(11)]
    assert STEPS[0].name == "00_resnet50.arch" and STEPS[-1].name == "10_separate_downsampling.arch"


@pytest.mark.parametrize("path", STEPS, ids=[p.stem for p in STEPS])
def test_every_step_parses_builds_and_classifies(path):
    model = archdsl.build(path)
    s = archdsl.summary(path)
    assert sum(p.numel() for p in model.parameters()) == s["params"]
    assert s["output_shape"] == [1, 1000]


@pytest.mark.parametrize("a,b", list(zip(STEPS, STEPS[1:])), ids=[b.stem for b in STEPS[1:]])
def test_each_step_is_a_small_change(a, b):
    def code(p):
        return [line.split("#")[0].rstrip() for line in p.read_text().splitlines() if line.split("#")[0].strip()]

    diff = list(difflib.unified_diff(code(a), code(b), lineterm="", n=0))
    removed = [d for d in diff if d.startswith("-") and not d.startswith("---")]
    added = [d for d in diff if d.startswith("+") and not d.startswith("+++")]
    assert 1 <= len(added) <= MAX_CHANGED_LINES and len(removed) <= MAX_CHANGED_LINES, "\n".join(diff)


@pytest.mark.parametrize(
    "index,ref",
    [(0, torchvision.models.resnet50), (-1, torchvision.models.convnext_tiny)],
    ids=["first_is_resnet50", "last_is_convnext_tiny"],
)
def test_endpoints_equal_the_references(index, ref):
    path = STEPS[index]
    expected = meta_params(ref)
    assert archdsl.summary(path)["params"] == expected
    assert meta_params(lambda: archdsl.build(path)) == expected
    torch.manual_seed(0)
    reference = ref()
    randomize_batchnorm(reference)
    ours = archdsl.build(path)
    archdsl.load_reference(ours, reference)
    assert_same_outputs(ours, reference, (3, 224, 224))


def test_readme_table_is_current():
    mod = _script()
    assert (WALK / "README.md").read_text() == mod.render(), "run: python scripts/make_walk_table.py"
    assert mod.main(["--check"]) == 0


def test_every_step_has_a_row_with_measured_figures():
    text = (WALK / "README.md").read_text()
    for path in STEPS:
        s = archdsl.summary(path)
        row = next(line for line in text.splitlines() if f"[`{path.name}`]" in line)
        assert f"{s['params'] / 1e6:.2f} M" in row and f"{s['macs'] / 1e9:.2f} G" in row


@pytest.mark.skipif(not SEEDS.is_dir(), reason="the seed notes are not on this machine")
def test_cited_accuracies_appear_on_the_cited_seed_lines():
    for name, (figure, seed, line) in _script().ACCURACY.items():
        assert (WALK / name).exists(), name
        text = (SEEDS / seed).read_text().splitlines()[line - 1]
        assert figure in text, f"{seed}:{line} does not say {figure}: {text!r}"
