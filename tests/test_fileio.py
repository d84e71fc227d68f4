"""`archdsl.fileio.write_atomic`: the one writer of output files (fmt, -o source, diagrams)
keeps an existing file's mode, gives a new file `0o666 & ~umask` without touching the
process umask, and on any failure leaves the old file and no temporary file."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from archdsl import fileio
from archdsl.cli import main
from archdsl.fileio import write_atomic

UNFORMATTED = "arch t()\ninput 3x8x8\nstem   conv3(4)\n"
FORMATTED = "arch t()\ninput 3x8x8\nstem  conv3(4)\n"


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("perm", [0o644, 0o640, 0o600, 0o664])
def test_fmt_keeps_the_file_mode(tmp_path, perm, capsys):
    p = tmp_path / "a.arch"
    p.write_text(UNFORMATTED)
    p.chmod(perm)
    assert main(["fmt", str(p)]) == 0
    assert p.read_text() == FORMATTED
    assert mode(p) == perm


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_new_file_gets_the_umask_mode(tmp_path, umask_027):
    write_atomic(tmp_path / "new.py", "x = 1\n")
    assert mode(tmp_path / "new.py") == 0o640
    assert (tmp_path / "new.py").read_bytes() == b"x = 1\n"


def test_umask_is_read_without_changing_it(tmp_path, umask_027, monkeypatch):
    if not fileio._PROC_HAS_UMASK:
        pytest.skip("no /proc/self/status: the umask is read once, at import (documented caveat)")
    assert fileio.current_umask() == 0o027

    def no_toggling(*a):
        raise AssertionError("os.umask changes the umask of every thread")

    monkeypatch.setattr(os, "umask", no_toggling)
    write_atomic(tmp_path / "new.txt", b"\x00\x01")
    assert mode(tmp_path / "new.txt") == 0o640


def test_concurrent_writers_keep_their_modes(tmp_path):
    files = [tmp_path / f"f{k}.arch" for k in range(8)]
    for k, f in enumerate(files):
        f.write_text("old\n")
        f.chmod(0o600 if k % 2 else 0o644)
    threads = [threading.Thread(target=lambda f=f: [write_atomic(f, f"new {n}\n") for n in range(20)]) for f in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [mode(f) for f in files] == [0o600 if k % 2 else 0o644 for k in range(8)]
    assert all(f.read_text() == "new 19\n" for f in files)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f.name for f in files)


@pytest.mark.parametrize("step", ["fsync", "replace", "fchmod"])
def test_failure_leaves_old_content_and_no_temporary_file(tmp_path, monkeypatch, step):
    out = tmp_path / "model.py"
    out.write_text("old\n")
    out.chmod(0o644)

    def boom(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, step, boom)
    with pytest.raises(OSError):
        write_atomic(out, "new\n" * 1000)
    assert out.read_text() == "old\n" and mode(out) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["model.py"]


def test_missing_folder_is_an_oserror_and_writes_nothing(tmp_path):
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "nowhere" / "x.py", "x\n")
    assert list(tmp_path.iterdir()) == []


def test_fmt_write_failure_is_a_located_error(tmp_path, monkeypatch, capsys):
    p = tmp_path / "a.arch"
    p.write_text(UNFORMATTED)

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    assert main(["fmt", str(p)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{p}:1:1: error: cannot write `{p}`: Permission denied")
    assert p.read_text() == UNFORMATTED
    assert [q.name for q in tmp_path.iterdir()] == ["a.arch"]


def test_every_writer_uses_the_one_helper():
    import archdsl

    root = os.path.dirname(archdsl.__file__)
    for folder, _, names in os.walk(root):
        for name in names:
            if name.endswith(".py") and name != "fileio.py":
                text = open(os.path.join(folder, name), encoding="utf-8").read()
                assert "mkstemp" not in text and "os.umask" not in text, name
