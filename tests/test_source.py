"""`archdsl.source.read_source`: every failure to read an .arch file is a located error
(the corpus in tests/errors covers a missing file, a folder and non-UTF-8 bytes; these need
conditions a checked-in file cannot make)."""

from __future__ import annotations

from pathlib import Path

import pytest

from archdsl.cli import main
from archdsl.errors import ArchError
from archdsl.source import MAX_SOURCE_BYTES, read_source


def test_file_over_the_size_limit(tmp_path, capsys):
    big = tmp_path / "big.arch"
    big.write_bytes(b"# padding\n" * (MAX_SOURCE_BYTES // 10 + 1))
    with pytest.raises(ArchError, match=f"file is larger than {MAX_SOURCE_BYTES:,} bytes") as e:
        read_source(big)
    assert (e.value.span.file, e.value.span.line, e.value.span.column) == (str(big), 1, 1)
    assert main(["compile", str(big)]) == 1
    assert capsys.readouterr().err.startswith(f"{big}:1:1: error: file is larger than")


def test_unreadable_file(tmp_path, monkeypatch, capsys):
    p = tmp_path / "locked.arch"
    p.write_text("arch t()\n")

    def denied(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "read_bytes", denied)  # root reads any file, so chmod cannot make this
    with pytest.raises(ArchError, match="cannot read file: Permission denied"):
        read_source(p)
    assert main(["compile", str(p)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"{p}:1:1: error: cannot read file: Permission denied") and "Traceback" not in err
