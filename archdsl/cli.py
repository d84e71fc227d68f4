"""The `archdsl` command.

    archdsl compile FILE.arch [--variant V] [--set NAME=VALUE]... [--input CxHxW] [--json] [-o OUT.py]
    archdsl check   FILE.arch [--variant V] [--set NAME=VALUE]... [--input CxHxW]
    archdsl zoo

Exit status: 0 success, 1 user error (a located message, never a traceback),
2 internal error (a bug: the message asks for a report; `--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from importlib import resources
from pathlib import Path
from typing import Sequence

from archdsl.errors import ArchError, Span


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit 2; a bad command line is a user error
        raise _UsageError(message)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the .arch file")
    p.add_argument("--variant", "-v", help="a variant named in the file")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="override a declared parameter (repeatable), e.g. --set depths=[2,2,6,2]")
    p.add_argument("--input", dest="input_shape", metavar="CxHxW", help="input shape, e.g. 3x160x160")


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="archdsl", description="Vision architectures as short text, compiled to PyTorch.")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    c = sub.add_parser("compile", help="check and build a model; print its summary")
    _common(c)
    c.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    c.add_argument("-o", "--output", metavar="OUT.py", help="also write the model as one standalone PyTorch file")
    k = sub.add_parser("check", help="parse and shape-check only (fast)")
    _common(k)
    sub.add_parser("zoo", help="table of zoo models and variants")
    return p


def parse_input_shape(text: str) -> tuple[int, ...]:
    m = re.fullmatch(r"(\d+)x(\d+)x(\d+)", text.strip())
    if not m or min(int(v) for v in m.groups()) < 1:
        raise ArchError(f"bad input shape `{text}`", Span("--input", 1, 1, max(1, len(text)), text),
                        "write channels x height x width with positive integers, e.g. 3x224x224")
    return tuple(int(v) for v in m.groups())


def _graph(args):
    from archdsl.api import compile_graph, parse
    from archdsl.passes import SetArg
    from archdsl.syntax import parse_set_arg

    sets = []
    for text in args.sets:
        name, expr, span = parse_set_arg(text)
        sets.append(SetArg(name, expr, span, text))
    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    program = parse(Path(args.file))
    return compile_graph(program, args.variant, set_args=sets, input_shape=shape)


def cmd_compile(args) -> int:
    from archdsl.backends.summary import format_summary, summarize
    from archdsl.backends.torch_module import build_module

    g = _graph(args)
    s = summarize(g)
    import torch

    with torch.device("meta"):  # compile means the module really builds; meta keeps it instant
        model = build_module(g)
    built = sum(p.numel() for p in model.parameters())
    if built != s["params"]:  # pragma: no cover - the registry's param rules are tested against torch
        raise RuntimeError(f"parameter count mismatch: summary {s['params']} vs built {built}")
    if args.output:
        from archdsl.backends.torch_source import generate_source, write_atomic

        try:
            write_atomic(args.output, generate_source(g))  # all or nothing: no partial file on failure
        except OSError as e:
            raise ArchError(f"cannot write `{args.output}`: {e.strerror or e}", Span("-o", 1, 1, max(1, len(args.output)), args.output),
                            "check that the directory exists and is writable") from None
    if args.json:
        print(json.dumps(s))
    else:
        print(format_summary(s))
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def cmd_check(args) -> int:
    g = _graph(args)
    out = g.nodes[g.output_id].shape
    print(f"{args.file}: ok ({len(g) - 1} ops, output {'x'.join(map(str, out))})")
    return 0


def zoo_files() -> list[Path]:
    """The zoo: a source checkout's zoo/ if there is one, else the installed `archdsl.zoo`."""
    source = Path(__file__).resolve().parents[1] / "zoo"
    if source.is_dir():
        return sorted(source.glob("*.arch"))
    root = resources.files("archdsl.zoo")
    return sorted(Path(str(root)) / f.name for f in root.iterdir() if f.name.endswith(".arch"))


def reference_of(source: str) -> str:
    m = re.search(r"^#\s*Reference:\s*(.+)$", source, re.M)
    return m.group(1).strip() if m else ""


def cmd_zoo(args) -> int:
    from archdsl.api import compile_graph, parse
    from archdsl.backends.summary import summarize

    rows = []
    for f in zoo_files():
        program = parse(f)
        for v in program.variant_names or [None]:
            s = summarize(compile_graph(program, v))
            rows.append((f.name, v or "-", f"{s['params'] / 1e6:.2f}M", f"{s['macs'] / 1e9:.2f}G", reference_of(program.source)))
    widths = [max(len(r[k]) for r in rows + [("file", "variant", "params", "MACs", "reference")]) for k in range(4)]
    header = ("file", "variant", "params", "MACs", "reference")
    for r in [header] + rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}  {r[4]}")
    return 0


COMMANDS = {"compile": cmd_compile, "check": cmd_check, "zoo": cmd_zoo}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        args = make_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except _UsageError as e:
        print(f"archdsl: error: {e}", file=sys.stderr)
        print("hint: run `archdsl --help` for usage", file=sys.stderr)
        return 1
    except ArchError as e:
        print(e.format(), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except Exception:  # a bug in archdsl, not in the user's file
        print("archdsl: internal error: this is a bug in archdsl, not in your file.", file=sys.stderr)
        print("Please report it with the command you ran and the .arch file.", file=sys.stderr)
        if debug:
            traceback.print_exc()
        else:
            print("(run with --debug to see the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
