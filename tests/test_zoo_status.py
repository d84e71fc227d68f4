"""archdsl/zoo_status.py (the verification table behind `archdsl zoo` and docs/zoo.md) cannot drift.

- it covers exactly the zoo's files and variants;
- every claimed reference exists in torchvision / timm, and (slow) has exactly our param count;
- every output claim points at a test file with an output-equality test that names the
  variant (and is marked slow when the claim says "slow");
- docs/zoo.md is what scripts/make_zoo_page.py makes of it, and `archdsl zoo` prints it.
"""

from __future__ import annotations

import ast
import importlib.util

import pytest
import timm
import torchvision

import archdsl
from archdsl.cli import main
from archdsl.zoo_status import STATUS, verified_cell
from tests.conftest import ROOT, ZOO, meta_params

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
    assert lib in ("tv", "timm", "paper"), check.params
    if lib == "tv":
        assert hasattr(torchvision.models, name)
    elif lib == "timm":
        assert timm.is_model(name)
    else:
        assert check.note, "a paper claim says which figure"


def _tests_in(path):
    """{test function name: (source, decorated slow?)} of one test file."""
    tree = ast.parse(path.read_text())
    text = path.read_text().splitlines()
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
            start = min([d.lineno for d in node.decorator_list] + [node.lineno])
            src = "\n".join(text[start - 1:node.end_lineno])
            slow = any("slow" in ast.unparse(d) for d in node.decorator_list)
            out[node.name] = (src, slow)
    return out


@pytest.mark.parametrize("stem,variant,check", [c for c in CLAIMS if c[2].outputs], ids=[i for i, c in zip(IDS, CLAIMS) if c[2].outputs])
def test_output_claims_have_an_output_test(stem, variant, check):
    path = ROOT / check.test
    assert path.exists(), check.test
    source = path.read_text()
    assert f"{stem}.arch" in source or f'"{stem}"' in source, f"{check.test} does not test zoo/{stem}.arch"
    tests = {n: t for n, t in _tests_in(path).items() if "output" in n}
    assert tests, f"{check.test} has no output test"
    # the variant is named in an output test, or in a module-level list those tests use
    named = [n for n, (src, _) in tests.items() if f'"{variant}"' in src]
    assert named or f'"{variant}"' in source, f"{check.test}: no output test names {variant}"
    slow_tests = [n for n, (_, slow) in tests.items() if slow]
    if check.outputs == "slow":
        assert slow_tests, f"{check.test}: claims a slow output test for {variant} but none is marked slow"
    else:
        assert len(slow_tests) < len(tests), f"{check.test}: every output test is slow, the claim says default"


@pytest.mark.slow
@pytest.mark.parametrize("stem,variant,check", [c for c in CLAIMS if c[2].params != "paper"],
                         ids=[i for i, c in zip(IDS, CLAIMS) if c[2].params != "paper"])
def test_claimed_reference_has_our_param_count(stem, variant, check):
    assert meta_params(lambda: archdsl.build(ZOO / f"{stem}.arch", variant)) == meta_params(_constructor(check))


def test_zoo_command_prints_the_verified_column(capsys):
    assert main(["zoo"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "verified" in lines[0].split()
    tiny = next(line for line in lines if line.startswith("convnext.arch") and " tiny " in line)
    assert verified_cell("convnext", "tiny") == "params=tv:convnext_tiny, outputs"
    assert verified_cell("convnext", "tiny") in tiny
    large = next(line for line in lines if line.startswith("convnext.arch") and " large " in line)
    assert "params=tv:convnext_large" in large and "outputs" not in large.split("params=")[1].split("  ")[0]


def test_zoo_page_is_current():
    spec = importlib.util.spec_from_file_location("make_zoo_page", ROOT / "scripts" / "make_zoo_page.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert (ROOT / "docs" / "zoo.md").read_text() == mod.render(), "run: python scripts/make_zoo_page.py"
