"""`archdsl bench` (issue 20, bug 4): a reference name that does not exist is a user error with
the library's closest names; a reference that is another network is compared with a warning."""

from __future__ import annotations

import io

import pytest

from archdsl.bench import parameter_warning, run
from archdsl.cli import main
from archdsl.progress import Progress
from tests.conftest import zoo


@pytest.mark.parametrize("against,message,close", [
    ("timm:mobilenetv3_smal_100", "--against:1:6: error: timm has no model `mobilenetv3_smal_100`", "`mobilenetv3_small_100`"),
    ("torchvision:resnt50", "--against:1:13: error: torchvision has no model `resnt50`", "`resnet50`"),
    ("keras:resnet50", "--against:1:1: error: --against must be timm:NAME or torchvision:NAME", "timm:convnext_tiny"),
])
def test_unknown_reference_is_a_user_error(against, message, close, capsys):
    pytest.importorskip("timm")
    pytest.importorskip("torchvision")
    assert main(["bench", str(zoo("mobilenet_v3.arch")), "-v", "small", "--against", against]) == 1
    err = capsys.readouterr().err
    assert err.startswith(message) and close in err and "internal error" not in err


def test_parameter_warning_only_when_counts_differ():
    assert parameter_warning(100, 100, "timm:x") is None
    text = parameter_warning(2_542_856, 11_689_512, "timm:resnet18")
    assert text.startswith("timm:resnet18 has 11,689,512 parameters and ours 2,542,856")


def test_an_unrelated_reference_is_measured_with_a_warning():
    pytest.importorskip("torchvision")
    warned = []
    r = run(str(zoo("mobilenet_v3.arch")), "small", "torchvision:resnet18", batch=1, warmup=0, repeats=1, memory=False,
            warn=warned.append)
    assert r["params"]["ours"] == 2_542_856 and r["params"]["ref"] == 11_689_512
    assert warned == r["warnings"] and len(warned) == 1 and "different networks" in warned[0]
    same = run("mobilenet_v3_small", None, "torchvision:mobilenet_v3_small", batch=1, warmup=0, repeats=1, memory=False,
               warn=warned.append)
    assert same["params"]["ours"] == same["params"]["ref"] and same["warnings"] == [] and len(warned) == 1


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_only_and_cleared():
    tty, pipe = _Tty(), io.StringIO()
    for stream in (tty, pipe):
        with Progress("zoo", stream) as p:
            p("1/41 alexnet.arch")
            p("2/41 botnet.arch")
    assert pipe.getvalue() == ""
    assert tty.getvalue() == "\r\x1b[Kzoo: 1/41 alexnet.arch\r\x1b[Kzoo: 2/41 botnet.arch\r\x1b[K"


def test_progress_notes_stay_even_when_not_a_terminal():
    pipe = io.StringIO()
    Progress("bench", pipe).note("archdsl: warning: x")
    assert pipe.getvalue() == "archdsl: warning: x\n"


def test_reference_library_not_installed(monkeypatch):
    import sys

    import pytest

    from archdsl.bench import reference_constructor
    from archdsl.errors import ArchError

    monkeypatch.setitem(sys.modules, "timm", None)  # `import timm` now fails
    with pytest.raises(ArchError, match="timm is not installed") as e:
        reference_constructor("timm:resnet50")
    assert "pip install 'archdsl[verify]'" in e.value.hint
