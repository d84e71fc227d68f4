"""The Python API: parse, build, summary, and loading reference weights."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from archdsl.errors import ArchError, Span
from archdsl.ir.graph import Graph
from archdsl.passes import SetArg, compile_program
from archdsl.syntax import ast, parse_text

MAX_SOURCE_BYTES = 1_000_000


def read_source(path: str | os.PathLike) -> str:
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise ArchError("no such file", Span(str(path), 1, 1), "check the path; zoo files live in zoo/ (see `archdsl zoo`)") from None
    except IsADirectoryError:
        raise ArchError("is a directory, not an .arch file", Span(str(path), 1, 1)) from None
    except OSError as e:
        raise ArchError(f"cannot read file: {e.strerror}", Span(str(path), 1, 1)) from None
    if len(data) > MAX_SOURCE_BYTES:
        raise ArchError(f"file is larger than {MAX_SOURCE_BYTES:,} bytes", Span(str(path), 1, 1))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        shown = data.split(b"\n")[line - 1].decode("utf-8", "replace")
        raise ArchError("not UTF-8 text (binary data?)", Span(str(path), line, col, 1, shown), "an .arch file is plain text") from None


def _looks_like_path(text_or_path: str | os.PathLike) -> bool:
    if isinstance(text_or_path, os.PathLike):
        return True
    return "\n" not in text_or_path and (text_or_path.endswith(".arch") or os.path.exists(text_or_path))


def parse(text_or_path: str | os.PathLike) -> ast.Program:
    """Parse a `.arch` file (a path) or source text into a Program."""
    if _looks_like_path(text_or_path):
        return parse_text(read_source(text_or_path), str(text_or_path))
    return parse_text(str(text_or_path), "<string>")


def compile_graph(path_or_text: str | os.PathLike | ast.Program, variant: str | None = None,
                  set_args: list[SetArg] | None = None, input_shape: tuple[int, ...] | None = None,
                  **overrides: Any) -> Graph:
    """Parse, resolve and check: the IR graph every backend starts from."""
    program = path_or_text if isinstance(path_or_text, ast.Program) else parse(path_or_text)
    return compile_program(program, variant, overrides, set_args, input_shape)


def build(path_or_text: str | os.PathLike | ast.Program, variant: str | None = None, *,
          input_shape: tuple[int, ...] | None = None, **overrides: Any):
    """Build the torch `nn.Module` for an architecture (optionally a variant, with overrides)."""
    from archdsl.backends.torch_module import build_module

    return build_module(compile_graph(path_or_text, variant, input_shape=input_shape, **overrides))


def summary(path_or_text: str | os.PathLike | ast.Program, variant: str | None = None, *,
            input_shape: tuple[int, ...] | None = None, **overrides: Any) -> dict[str, Any]:
    """The same dict `archdsl compile --json` prints: params, MACs, shapes, per-stage table."""
    from archdsl.backends.summary import summarize

    return summarize(compile_graph(path_or_text, variant, input_shape=input_shape, **overrides))


def to_source(path_or_text: str | os.PathLike | ast.Program, variant: str | None = None, *,
              input_shape: tuple[int, ...] | None = None, output: str | os.PathLike | None = None,
              **overrides: Any) -> str:
    """One self-contained PyTorch file for the architecture (the same network as `build`,
    with the same state-dict keys). With `output`, also write it there atomically."""
    from archdsl.backends.torch_source import generate_source, write_atomic

    text = generate_source(compile_graph(path_or_text, variant, input_shape=input_shape, **overrides))
    if output is not None:
        write_atomic(output, text)
    return text
