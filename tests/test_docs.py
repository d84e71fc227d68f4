"""docs/language.md is generated from the op registry and must be up to date."""

from __future__ import annotations

import importlib.util

from tests.conftest import ROOT


def test_language_reference_is_current():
    spec = importlib.util.spec_from_file_location("make_language_doc", ROOT / "scripts" / "make_language_doc.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert (ROOT / "docs" / "language.md").read_text() == mod.render(), "run: python scripts/make_language_doc.py"


def test_every_user_token_is_documented():
    from archdsl import ops

    text = (ROOT / "docs" / "language.md").read_text()
    for spec in ops.user_ops():
        assert f"`{spec.name}" in text
