"""A non-editable install (a built wheel) carries the grammar and the zoo and parses files."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile

from tests.conftest import ROOT


def test_wheel_contains_grammar_and_zoo_and_parses(tmp_path):
    wheel_dir, target = tmp_path / "wheel", tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheel_dir), str(ROOT)],
                   check=True, capture_output=True)
    (wheel,) = wheel_dir.glob("archdsl-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "archdsl/grammars/arch.lark" in names
    assert "archdsl/zoo/convnext.arch" in names
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    code = ("import archdsl, archdsl.syntax.parser as p, archdsl.cli as c;"
            "assert p.__file__.startswith(%r);"
            "z = [f for f in c.zoo_files() if f.name == 'convnext.arch'][0];"
            "print(archdsl.summary(z)['params'])" % str(target))
    env = {**os.environ, "PYTHONPATH": str(target)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "28589128"
