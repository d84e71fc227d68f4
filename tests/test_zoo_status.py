"""archdsl/zoo_status.py (the verification table behind `archdsl zoo` and docs/zoo.md) cannot drift.

- it covers exactly the zoo's files and variants;
- every claimed reference exists in torchvision / timm (tests/zoo/test_fidelity.py runs
  every claim: param counts and float64 outputs);
- every torchvision/timm variant has an output check (default or slow suite);
- docs/zoo.md and README.md's verified table are what scripts/make_zoo_page.py makes of it,
  and `archdsl zoo` prints it.
"""

from __future__ import annotations

import importlib.util

import pytest
import timm
import torchvision

import archdsl
from archdsl.cli import main
from archdsl.zoo_status import STATUS, verified_cell
from tests.conftest import ROOT, ZOO

CLAIMS = [(stem, v, c) for stem, variants in STATUS.items() for v, c in variants.items()]
IDS = [f"{stem}-{v}" for stem, v, _ in CLAIMS]


def test_table_covers_exactly_the_zoo():
    zoo = {p.stem: archdsl.parse(p).variant_names for p in sorted(ZOO.glob("*.arch"))}
    assert sorted(STATUS) == sorted(zoo), "add the new zoo file to archdsl/zoo_status.py"
    for stem, variants in zoo.items():
        assert list(STATUS[stem]) == variants, f"{stem}: variants differ from the file's"


def _constructor(check):
    lib, _, name = check.params.partition(":")
    if lib == "tv":
        return lambda: getattr(torchvision.models, name)(**check.kwargs)
    return lambda: timm.create_model(name, pretrained=False, **check.kwargs)


@pytest.mark.parametrize("stem,variant,check", CLAIMS, ids=IDS)
def test_claimed_reference_exists(stem, variant, check):
    lib, _, name = check.params.partition(":")
    assert lib in ("tv", "timm", "paper", "composite"), check.params
    if lib == "tv":
        assert hasattr(torchvision.models, name)
    elif lib == "timm":
        assert timm.is_model(name)
    else:
        assert check.note, "a paper or composite claim says which figure or which parts"


def test_family_test_files_exist():
    for stem, variants in STATUS.items():
        for check in variants.values():
            assert (ROOT / check.test).exists(), f"{stem}: {check.test}"


def test_zoo_command_prints_the_verified_column(capsys):
    assert main(["zoo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "verified" in lines[0].split()
    tiny = next(line for line in lines if line.startswith("convnext.arch") and " tiny " in line)
    assert verified_cell("convnext", "tiny") == "params=tv:convnext_tiny, outputs"
    assert verified_cell("convnext", "tiny") in tiny
    large = next(line for line in lines if line.startswith("convnext.arch") and " large " in line)
    assert verified_cell("convnext", "large") == "params=tv:convnext_large, outputs (slow)"
    assert verified_cell("convnext", "large") in large
    lenet = next(line for line in lines if line.startswith("lenet.arch"))
    assert verified_cell("lenet", "lenet5") == "params~paper" and "params~paper" in lenet and "outputs" not in lenet


def test_zoo_page_is_current():
    spec = importlib.util.spec_from_file_location("make_zoo_page", ROOT / "scripts" / "make_zoo_page.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert (ROOT / "docs" / "zoo.md").read_text() == mod.render(), "run: python scripts/make_zoo_page.py"


def _make_zoo_page():
    spec = importlib.util.spec_from_file_location("make_zoo_page", ROOT / "scripts" / "make_zoo_page.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_readme_verified_table_is_current():
    assert (ROOT / "README.md").read_text() == _make_zoo_page().readme_text(), "run: python scripts/make_zoo_page.py"


def test_every_library_variant_has_an_output_check():
    """README says every torchvision/timm variant's outputs are checked; the table must agree."""
    unchecked = [f"{stem}-{v}" for stem, v, c in CLAIMS if c.library and not c.outputs]
    assert unchecked == []


def test_slow_checks_file_lists_the_slow_tier():
    """.ci/slow_checks.txt (what CI runs, what is run by hand) names every slow output claim once."""
    listed = _make_zoo_page().slow_checks()
    slow = {f"{stem}-{v}" for stem, v, c in CLAIMS if c.outputs == "slow"}
    assert set(listed) == slow
    assert set(listed.values()) <= {"ci", "hand"}
    lines = [line for line in (ROOT / ".ci" / "slow_checks.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert len(lines) == len(listed), "an ID listed twice"
    assert "scripts/slow_checks.sh ci" in (ROOT / ".ci" / "run").read_text()
