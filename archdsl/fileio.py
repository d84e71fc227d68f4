"""Writing output files all at once: `write_atomic`, the one way archdsl writes a file
(generated PyTorch source, `archdsl fmt`, rendered diagrams).

The data goes to a temporary file in the target's own folder (so the final rename stays on
one file system), is flushed and fsync'ed, gets its final mode, and then replaces the target
with `os.replace`. A failure at any step removes the temporary file and leaves the old
target as it was: a reader sees the old file or the new one, never half of one.

Mode: an existing target keeps its permission bits (`archdsl fmt` on a 0644 file leaves it
0644; `tempfile.mkstemp` alone would make it 0600). A new file gets `0o666 & ~umask`, like
`open(path, "w")`. The umask is read without changing it where the system says it
(`/proc/self/status`, Linux 4.7+); elsewhere `os.umask` can only be read by setting it, which
is not thread-safe, so it is read that way once, when this module is imported, and a later
change of the process umask is not seen there. Ownership is the writer's (as with any
replace-by-rename), and a symlink at `path` is replaced by a regular file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def _umask_from_proc() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


def _umask_by_setting() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_PROC_HAS_UMASK = _umask_from_proc() is not None
_UMASK_AT_IMPORT = None if _PROC_HAS_UMASK else _umask_by_setting()


def current_umask() -> int:
    """The process umask, read without changing it (see the module docstring for the caveat
    on systems without `/proc/self/status`)."""
    if _PROC_HAS_UMASK:
        mask = _umask_from_proc()
        if mask is not None:
            return mask
    return _UMASK_AT_IMPORT if _UMASK_AT_IMPORT is not None else 0o022


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """Write `data` (text is written as UTF-8 with `\\n` line ends, untranslated) to `path` all at
    once; the target keeps its mode, a new file gets `0o666 & ~umask`. Raises OSError (the
    target untouched, no temporary file left) when the folder is missing or not writable."""
    target = Path(path)
    payload = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        mode = 0o666 & ~current_umask()
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
        if not hasattr(os, "fchmod"):  # pragma: no cover - Windows
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _sync_folder(directory)


def _sync_folder(directory: Path) -> None:
    """Make the rename itself durable where the system allows opening a folder."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
