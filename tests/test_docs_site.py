"""The documentation site: generated pages are current, and `mkdocs build --strict` passes."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _script(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cli_reference_is_current():
    assert (ROOT / "docs" / "cli.md").read_text() == _script("make_cli_doc").render(), "run: python scripts/make_cli_doc.py"


def test_cli_reference_names_every_command_and_option():
    from archdsl.cli import make_parser

    text = (ROOT / "docs" / "cli.md").read_text()
    commands = next(a for a in make_parser()._actions if a.dest == "command").choices
    assert commands
    for name, sub in commands.items():
        assert f"## archdsl {name}" in text
        for a in sub._actions:
            for opt in a.option_strings:
                if opt not in ("-h", "--help"):
                    assert f"`{opt}`" in text, (name, opt)


def test_every_page_is_in_the_nav():
    """mkdocs only warns (INFO) about pages left out of the nav; keep the nav complete."""
    nav = (ROOT / "mkdocs.yml").read_text()
    excluded = {"language.intro.md"}
    for page in sorted((ROOT / "docs").rglob("*.md")):
        rel = page.relative_to(ROOT / "docs").as_posix()
        if rel not in excluded and not rel.startswith("screenshots/"):
            assert rel in nav, f"docs/{rel} is not in mkdocs.yml's nav"


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="install the docs extra: pip install -e '.[docs]'")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    r = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(tmp_path / "site")], cwd=ROOT,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "WARNING" not in r.stderr, r.stderr
    site = tmp_path / "site"
    for page in ("index.html", "zoo.html", "cli.html", "howto_custom_layer.html", "language.html",
                 "tutorial/resnet_to_convnext/index.html", "gallery/index.html"):  # use_directory_urls: false
        assert (site / page).exists(), page
    assert "GlobalResponseNorm" in (site / "howto_custom_layer.html").read_text()  # the snippets are inlined
    assert "dw7 ln mlp4" in (site / "index.html").read_text() and "--8&lt;--" not in (site / "index.html").read_text()
    assert (site / "gallery" / "convnext_depth1.svg").exists() and (site / "tutorial" / "resnet_to_convnext" / "00_resnet50.arch").exists()
