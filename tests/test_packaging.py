"""A non-editable install (a built wheel) carries the grammar and the zoo, installs into an
environment that already has torch, and reaches the zoo by name from any directory.

The wheel is built offline (`pip wheel --no-deps --no-build-isolation`) from a copy of the
files the package is made of, so the checkout's build/ never leaks into it; it is installed
with `--no-index` into a fresh venv created with `--system-site-packages`, so the
machine's torch satisfies `torch>=` and nothing is downloaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

from tests.conftest import ROOT

PACKAGE_FILES = ("pyproject.toml", "README.md", "archdsl", "grammars", "zoo")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("wheel")
    for name in PACKAGE_FILES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.svg"))
        else:
            shutil.copy2(path, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(src)],
                   check=True, capture_output=True)
    (found,) = out.glob("archdsl-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv that reuses this machine's torch, with the wheel installed (no index)."""
    env_dir = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(env_dir)], check=True)
    py = env_dir / "bin" / "python"
    # the venv has no pip of its own: the system's pip (visible through the system site)
    # installs into the venv. --force-reinstall --no-deps: this machine has archdsl
    # installed (editable, same version), which pip would otherwise take as satisfying
    # the wheel; then every dependency must already be met by what the machine has
    # (--no-index: nothing may be downloaded, torch must be reused).
    r = subprocess.run([str(py), "-m", "pip", "install", "--no-index", "--no-deps", "--force-reinstall", "-q", str(wheel)],
                       capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    r = subprocess.run([str(py), "-c", DEPENDENCIES_MET], capture_output=True, text=True, check=False)
    assert r.returncode == 0 and r.stdout.startswith("met: "), r.stdout + r.stderr
    return env_dir


DEPENDENCIES_MET = """
from importlib import metadata
from packaging.requirements import Requirement
dist = metadata.distribution("archdsl")
reqs = [Requirement(r) for r in dist.requires if "extra ==" not in r]
bad = [str(r) for r in reqs if not r.specifier.contains(metadata.version(r.name), prereleases=True)]
assert not bad, bad
print("met:", ", ".join(f"{r.name} {metadata.version(r.name)}" for r in reqs))
"""


def _run(venv: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)


def test_wheel_metadata_asks_for_a_torch_range_and_has_a_verify_extra(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "archdsl/grammars/arch.lark" in names
    assert {"archdsl/zoo/__init__.py", "archdsl/zoo/convnext.arch", "archdsl/zoo/blocks/resnet.arch"} <= set(names)
    meta = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("/METADATA"))).decode()
    requires = [line.split(": ", 1)[1] for line in meta.splitlines() if line.startswith("Requires-Dist: ")]
    torch = [r for r in requires if r.startswith("torch") and "extra" not in r]
    assert torch and torch[0].startswith("torch>=") and "==" not in torch[0]  # the user's torch, not a pin
    assert any(r.startswith("torchvision") and 'extra == "verify"' in r for r in requires)
    assert any(r.startswith("timm") and 'extra == "verify"' in r for r in requires)
    # the exact pair stays in the test setup that ./setup.sh installs
    test = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert "torch==2.14.1" in test and "torchvision==0.29.1" in test
    import archdsl

    assert f"Version: {archdsl.__version__}\n" in meta


def test_installed_wheel_compiles_and_renders_zoo_models_by_name(venv, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run(venv, [str(venv / "bin" / "python"), "-c", "import archdsl, torch; print(archdsl.__file__); print(torch.__file__)"], empty)
    assert where.returncode == 0, where.stderr
    archdsl_file, torch_file = where.stdout.split()
    assert archdsl_file.startswith(str(venv))  # the wheel, not the checkout or an editable install
    assert not torch_file.startswith(str(venv))  # the machine's torch, reused

    compiled = _run(venv, ["archdsl", "compile", "convnext", "-v", "tiny"], empty)
    assert compiled.returncode == 0, compiled.stderr
    assert compiled.stdout.startswith("convnext (tiny)") and "28,589,128" in compiled.stdout

    version = _run(venv, ["archdsl", "--version"], empty)
    assert version.returncode == 0 and version.stdout.startswith("archdsl ")

    if shutil.which("dot") is None:  # pragma: no cover - setup.sh installs Graphviz where it can
        out = "r.dot"
    else:
        out = "r.svg"
    rendered = _run(venv, ["archdsl", "render", "resnet", "-o", out], empty)  # resnet.arch `use`s blocks/resnet.arch
    assert rendered.returncode == 0, rendered.stderr
    assert (empty / out).stat().st_size > 1000
    assert sorted(p.name for p in empty.iterdir()) == [out]


def test_installed_wheel_use_finds_the_zoo_blocks(venv, tmp_path):
    (tmp_path / "mine.arch").write_text('arch mine(classes=10)\ninput 3x64x64\nuse "blocks/resnet.arch"\n'
                                        "stem conv3(16) bn relu\nstage basic x[1,1] c=[16,32] s=[1,2]\nhead gap fc(classes)\n")
    r = _run(venv, ["archdsl", "check", "mine.arch"], tmp_path)
    assert r.returncode == 0, r.stderr
    typo = _run(venv, ["archdsl", "check", "convnxt"], tmp_path)
    assert typo.returncode == 1 and typo.stderr.startswith("convnxt:1:1: error: no file or zoo model named `convnxt`")
    assert "did you mean `convnext`" in typo.stderr
    code = "import archdsl; print(archdsl.summary('resnet50')['params'], archdsl.list_models('convnext_t*'))"
    py = _run(venv, [str(venv / "bin" / "python"), "-c", code], tmp_path)
    assert py.stdout.split(None, 1) == ["25557032", "['convnext_tiny']\n"], py.stderr


def test_installed_wheel_has_the_weight_loader(venv, tmp_path):
    r = _run(venv, [str(venv / "bin" / "python"), "-c",
                    "from archdsl.weights import load_reference, load_weights; import archdsl.reference_rules; "
                    "import archdsl.weights.trace, archdsl.weights.match, archdsl.weights.verify; print('ok')"], tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr
