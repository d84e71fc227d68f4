"""The `archdsl` command.

    archdsl compile FILE.arch [--variant V] [--set NAME=VALUE]... [--input CxHxW] [--json] [--layers] [-o OUT.py]
                    [--drop-rate P] [--global-pool avg|max|token|'']
    archdsl check   FILE.arch [--variant V] [--set NAME=VALUE]... [--input CxHxW]
    archdsl render  FILE.arch [--variant V] [-o OUT.svg|.png|.pdf|.dot] [--depth 0|1|full] [--rankdir TB|LR]
    archdsl zoo
    archdsl diff    A.arch B.arch [--variant-a V] [--variant-b W] [--json]
    archdsl lsp                        # the language server (stdio), for editors
    archdsl ops     [TOKEN]
    archdsl --version

FILE may also be a zoo model's name: `archdsl compile convnext -v tiny`, `archdsl render resnet50`.

Exit status: 0 success, 1 user error (a located message, never a traceback),
2 internal error (a bug: the message asks for a report; `--debug` shows the traceback).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import traceback
from pathlib import Path
from typing import Sequence

from archdsl.errors import ArchError, Span, UsageError


_UsageError = UsageError  # a bad command line: printed as `archdsl: error: ...`, exit 1


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit 2; a bad command line is a user error
        raise _UsageError(message)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="the .arch file, or a zoo model's name (convnext, convnext_tiny, resnet50)")
    p.add_argument("--variant", "-v", help="a variant named in the file")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NAME=VALUE",
                   help="override a parameter, a let, or a layer argument as a default line sets it (repeatable), e.g. --set depths=[2,2,6,2] --set ln.eps=1e-5")
    p.add_argument("--input", dest="input_shape", metavar="CxHxW", help="input shape, e.g. 3x160x160")
    p.add_argument("--max-params", type=_count, default=None, metavar="N",
                   help="refuse networks with more parameters (default 10 billion; 1e9 and 500M are accepted)")
    p.add_argument("--drop-rate", type=float, default=None, metavar="P",
                   help="dropout before the classifier (timm's drop_rate), e.g. 0.2")
    p.add_argument("--global-pool", default=None, metavar="KIND",
                   help="the head's pooling as timm's global_pool: avg, max, token, or '' (none; needs --set classes=0 on maps)")


def make_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="archdsl", description="Vision architectures as short text, compiled to PyTorch.")
    p.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    p.add_argument("--plugin", dest="plugins", action="append", default=[], metavar="MODULE",
                   help="import a Python module that registers layers (repeatable), e.g. --plugin mypkg.layers")
    p.add_argument("--version", action=_VersionAction, help="print archdsl's version (and python's and torch's) and exit")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    c = sub.add_parser("compile", help="check and build a model; print its summary")
    _common(c)
    c.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    c.add_argument("--layers", action="store_true",
                   help="also list every layer: module, output shape, params and MACs (with --json: a `layers` list)")
    c.add_argument("-o", "--output", metavar="OUT.py", help="also write the model as one standalone PyTorch file")
    c.add_argument("--compile", action="store_true", help="torch.compile the model and run one forward pass (inductor)")
    c.add_argument("--mode", choices=["default", "reduce-overhead", "max-autotune"], default=None,
                   help="torch.compile mode (with --compile)")
    c.add_argument("--dtype", choices=["float32", "bfloat16"], default=None, help="parameter dtype of the built model")
    c.add_argument("--channels-last", action="store_true", help="NHWC memory layout for weights and the test input")
    c.add_argument("--inference", action="store_true",
                   help="eval mode with the inference passes (dropout removal, reparameterization, BatchNorm folding, channels-last weights for conv nets)")
    k = sub.add_parser("check", help="parse and shape-check only (fast); every variant unless --variant names one")
    _common(k)
    r = sub.add_parser("render", help="draw the architecture with Graphviz (default: FILE.svg next to FILE.arch)")
    _common(r)
    r.add_argument("-o", "--output", help="output file: .svg, .png, .pdf or .dot (default: next to the input, .svg)")
    r.add_argument("--depth", default="1", help="0 = sections, 1 = one block per stage (default), full (or 2+) = every op")
    r.add_argument("--rankdir", default="TB", help="TB (top to bottom, default) or LR (left to right)")
    sub.add_parser("zoo", help="table of zoo models and variants")
    b = sub.add_parser("bench", help="measure build time, throughput and memory against timm/torchvision")
    b.add_argument("file", help="the .arch file, or a zoo model's name")
    b.add_argument("--variant", "-v")
    b.add_argument("--against", required=True, metavar="timm:NAME|torchvision:NAME")
    b.add_argument("--batch", type=int, default=8)
    b.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    b.add_argument("--compile", action="store_true", help="also measure torch.compile (inductor)")
    b.add_argument("--inference", action="store_true", help="also measure ours after the inference passes vs the reference's eager")
    b.add_argument("--dtype", choices=["float32", "bfloat16"], default="float32",
                   help="inputs and weights in this dtype (training: float32 weights under autocast)")
    b.add_argument("--channels-last", action="store_true", help="NHWC memory format for both models and the input")
    b.add_argument("--train", action="store_true", help="also measure a training step (forward, backward, SGD) of both models")
    b.add_argument("--repeats", type=int, default=5)
    b.add_argument("--json", action="store_true")
    f = sub.add_parser("fmt", help="rewrite files in the canonical layout")
    f.add_argument("files", nargs="+", help=".arch files")
    f.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is not formatted")
    d = sub.add_parser("diff", help="what changed between two architectures, stage by stage")
    d.add_argument("file_a", help="the first .arch file (or zoo model name)")
    d.add_argument("file_b", help="the second .arch file (or zoo model name)")
    d.add_argument("--variant-a", help="a variant of the first file (default: its first)")
    d.add_argument("--variant-b", help="a variant of the second file (default: its first)")
    d.add_argument("--json", action="store_true", help="print the diff as one JSON object")
    from archdsl.cli_scaling import add_parsers

    add_parsers(sub)
    ls = sub.add_parser("lsp", help="run the language server for .arch files on stdin/stdout (editors start it; needs the `lsp` extra)")
    ls.add_argument("--stdio", action="store_true", help="accepted for editors that pass it; stdio is the only transport")
    o = sub.add_parser("ops", help="the layer tokens and their arguments (types, defaults)")
    o.add_argument("token", nargs="?", help="one layer, e.g. conv, dw7 or ln (default: all of them)")
    return p


class _VersionAction(argparse.Action):
    """`--version`, whose text (which reads package metadata) is made only when it is asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings=option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def _version() -> str:
    import platform
    from importlib import metadata

    from archdsl import __version__

    try:
        torch = metadata.version("torch")
    except metadata.PackageNotFoundError:  # pragma: no cover - torch is a dependency
        torch = "not installed"
    return f"archdsl {__version__} (python {platform.python_version()}, torch {torch})"


def source_of(text: str, variant: str | None = None, span: Span | None = None) -> tuple[Path, str | None]:
    """A FILE argument -> (path, variant): a path as given, or a zoo model name resolved
    (`convnext` -> zoo/convnext.arch, `convnext_tiny` -> zoo/convnext.arch + variant tiny)."""
    from archdsl import catalog

    if catalog.is_model_name(text):
        return catalog.resolve(text, variant, span)
    return Path(text), variant


def _count(text: str) -> int:
    m = re.fullmatch(r"(\d+(?:\.\d+)?(?:e\d+)?)([kMGB]?)", text.strip())
    if not m:
        raise argparse.ArgumentTypeError(f"not a count: {text!r} (e.g. 25000000, 25M, 1e9)")
    scale = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "B": 10**9}[m.group(2)]
    return int(float(m.group(1)) * scale)


def parse_input_shape(text: str) -> tuple[int, ...]:
    m = re.fullmatch(r"(\d+)x(\d+)x(\d+)", text.strip())
    if not m or min(int(v) for v in m.groups()) < 1:
        raise ArchError(f"bad input shape `{text}`", Span("--input", 1, 1, max(1, len(text)), text),
                        "write channels x height x width with positive integers, e.g. 3x224x224")
    return tuple(int(v) for v in m.groups())


def _graph(args):
    return _compiler(args)[0]()


def _compiler(args):
    """(compile(variant=the one asked for) -> Graph, the program, the variant asked for):
    `--set`/`--input`/`--max-params` are read once, then any variant of the file compiles."""
    from archdsl.api import compile_graph, parse
    from archdsl.passes import DEFAULT_MAX_PARAMS, SetArg
    from archdsl.syntax import parse_set_arg

    sets = []
    for text in args.sets:
        name, expr, span = parse_set_arg(text)
        sets.append(SetArg(name, expr, span, text))
    shape = parse_input_shape(args.input_shape) if args.input_shape else None
    path, variant = source_of(args.file, args.variant)
    program = parse(path)
    budget = args.max_params if args.max_params is not None else DEFAULT_MAX_PARAMS

    def run(v: str | None = variant):
        return compile_graph(program, v, set_args=sets, input_shape=shape, max_params=budget, drop_rate=args.drop_rate,
                             global_pool=args.global_pool)

    return run, program, variant


def cmd_compile(args) -> int:
    from archdsl.backends.summary import format_summary, summarize
    from archdsl.backends.load import build_module

    g = _graph(args)
    s = summarize(g)
    import torch

    with torch.device("meta"):  # compile means the module really builds (each layer's params checked); meta keeps it fast
        build_module(g)
    if args.output:
        from archdsl.backends.codegen import write_source
        from archdsl.fileio import write_atomic

        try:
            write_atomic(args.output, write_source(g))  # all or nothing: no partial file on failure
        except OSError as e:
            raise ArchError(f"cannot write `{args.output}`: {e.strerror or e}", Span("-o", 1, 1, max(1, len(args.output)), args.output),
                            "check that the directory exists and is writable") from None
    if args.mode is not None and not args.compile:
        raise _UsageError("--mode needs --compile")
    if args.compile or args.inference or args.dtype or args.channels_last:
        s["deploy"] = _deploy(g, args)
    if args.layers:
        s["layers"] = s.layers  # the per-layer rows join the JSON only when asked for
    if args.json:
        print(json.dumps(s))
    else:
        print(format_summary(s))
        if args.layers:
            print("\n" + s.layer_table())
        if "deploy" in s:
            print(_format_deploy(s["deploy"]))
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _deploy(g, args) -> dict:
    """Build the real model with the deployment options; with --compile, run one forward pass."""
    import time

    import torch

    from archdsl.backends.load import build_module

    model = build_module(g)
    info: dict = {"params": sum(p.numel() for p in model.parameters())}
    if args.inference:
        from archdsl.backends.deploy import optimize_for_inference

        model = optimize_for_inference(model)
        info["inference_passes"] = dict(model.inference_counts)
        info["inference_params"] = sum(p.numel() for p in model.parameters())
    dtype = getattr(torch, args.dtype) if args.dtype else torch.float32
    model = model.to(dtype=dtype)
    x = torch.randn(1, *g.input_shape, dtype=dtype)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
        if x.dim() == 4:
            x = x.to(memory_format=torch.channels_last)
    info.update(dtype=str(dtype).removeprefix("torch."), channels_last=bool(args.channels_last))
    if args.compile:
        mode = args.mode or "default"
        compiled = torch.compile(model, mode=None if mode == "default" else mode)
        t = time.perf_counter()
        with torch.no_grad():
            y = compiled(x)
        y = y[0] if isinstance(y, tuple) else y
        info["compile"] = {"mode": mode, "first_call_s": round(time.perf_counter() - t, 3), "output": list(y.shape[1:])}
    return info


def _format_deploy(d: dict) -> str:
    lines = [f"deploy: {d['dtype']}" + (", channels_last" if d["channels_last"] else "")]
    if "inference_passes" in d:
        counts = ", ".join(f"{n} {c}" for n, c in d["inference_passes"].items())
        lines.append(f"inference: {counts}; params {d['params']:,} -> {d['inference_params']:,}")
    if "compile" in d:
        c = d["compile"]
        lines.append(f"compiled (inductor, mode {c['mode']}): first call {c['first_call_s']:.1f}s, output {'x'.join(map(str, c['output']))}")
    return "\n".join(lines)


def cmd_check(args) -> int:
    """Check the variant asked for, or every variant of the file: a mistake in any variant is
    reported (located, once per distinct message, naming the variants it breaks)."""
    run, program, variant = _compiler(args)
    variants = [variant] if variant is not None else list(program.variant_names) or [None]
    failed: dict[str, tuple[ArchError, list]] = {}
    for v in variants:
        try:
            g = run(v)
        except ArchError as e:
            failed.setdefault(e.format(), (e, []))[1].append(v)
            continue
        out = "x".join(map(str, g.nodes[g.output_id].shape))
        where = f"{args.file} ({v})" if len(variants) > 1 else args.file
        print(f"{where}: ok ({len(g) - 1} ops, output {out})")
    for e, vs in failed.values():
        if 1 < len(variants) != len(vs) and not any(f"variant `{v}`" in e.message for v in vs):  # name them, unless all break
            e = ArchError(f"{e.message} (variant{'s' if len(vs) > 1 else ''} {', '.join(vs)})", e.span, e.hint)
        print(e.format(), file=sys.stderr)
    return 1 if failed else 0


def cmd_render(args) -> int:
    from archdsl.backends.graphviz import draw, output_format, parse_depth, parse_rankdir, write

    path, _ = source_of(args.file, args.variant)
    # next to the .arch file; a zoo model by name is drawn into the current directory
    out = Path(args.output) if args.output else path.with_suffix(".svg") if path == Path(args.file) else Path(f"{args.file}.svg")
    output_format(out)  # a bad name fails before any work
    depth, rankdir = parse_depth(args.depth), parse_rankdir(args.rankdir)
    write(draw(_graph(args), depth=depth, rankdir=rankdir), out)
    print(f"wrote {out}")
    return 0


def zoo_files() -> list[Path]:
    """The zoo's model files (see `archdsl.catalog`: a checkout's zoo/ or the installed package)."""
    from archdsl.catalog import zoo_files as files

    return files()


def reference_of(source: str) -> str:
    m = re.search(r"^#\s*Reference:\s*(.+)$", source, re.M)
    return m.group(1).strip() if m else ""


def cmd_zoo(args) -> int:
    from archdsl.api import compile_graph, parse
    from archdsl.backends.summary import summarize
    from archdsl.progress import Progress
    from archdsl.zoo_status import verified_cell

    rows = []
    files = zoo_files()
    with Progress("zoo") as progress:  # cleared before the table (or an error) is printed
        for k, f in enumerate(files, 1):
            progress(f"{k}/{len(files)} {f.name}")
            program = parse(f)
            for v in program.variant_names or [None]:
                s = summarize(compile_graph(program, v))
                rows.append((f.name, v or "-", f"{s['params'] / 1e6:.2f}M", f"{s['macs'] / 1e9:.2f}G", verified_cell(f.stem, v),
                             reference_of(program.source)))
    header = ("file", "variant", "params", "MACs", "verified", "reference")
    widths = [max(len(r[k]) for r in rows + [header]) for k in range(5)]
    for r in [header] + rows:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}  {r[4]:<{widths[4]}}  {r[5]}")
    return 0


def cmd_fmt(args) -> int:
    from archdsl.source import read_source
    from archdsl.syntax.format import format_source

    unformatted = []
    for name in args.files:
        text = read_source(name)
        new = format_source(text, name)
        if new == text:
            continue
        unformatted.append(name)
        if not args.check:
            from archdsl.fileio import write_atomic

            try:
                write_atomic(name, new)  # keeps the file's mode; the old text stays on failure
            except OSError as e:
                raise ArchError(f"cannot write `{name}`: {e.strerror or e}", Span(name, 1, 1, 1, text.split("\n", 1)[0]),
                                "check that the file and its folder are writable") from None
            print(f"formatted {name}")
    if args.check and unformatted:
        for name in unformatted:
            print(f"{name}:1:1: error: not formatted (run `archdsl fmt {name}`)", file=sys.stderr)
        return 1
    return 0


def cmd_bench(args) -> int:
    from archdsl.bench import format_result, reference_constructor, run
    from archdsl.progress import Progress

    reference_constructor(args.against)  # a bad reference or file fails before any work
    source_of(args.file, args.variant)
    with Progress("bench") as progress:
        import torch

        r = run(args.file, args.variant, args.against, batch=args.batch, device=args.device, compile=args.compile,
                repeats=args.repeats, inference=args.inference, train=args.train, dtype=getattr(torch, args.dtype),
                channels_last=args.channels_last, progress=progress,
                warn=lambda text: progress.note(f"archdsl: warning: {text}"))
    print(json.dumps(r) if args.json else format_result(r))
    return 0


def cmd_diff(args) -> int:
    from archdsl.api import diff
    from archdsl.backends.diff import format_diff

    (a, va), (b, vb) = source_of(args.file_a, args.variant_a), source_of(args.file_b, args.variant_b)
    d = diff(a, b, va, vb)
    print(json.dumps(d) if args.json else format_diff(d))
    return 0


def cmd_lsp(args) -> int:
    try:
        import pygls  # noqa: F401
    except ImportError:
        raise ArchError("the language server needs pygls", None, "install the extra: pip install 'archdsl[lsp]'") from None
    from archdsl.lsp import main as serve

    return serve()


def cmd_ops(args) -> int:
    from archdsl.ops_listing import format_all, format_one

    print(format_one(args.token) if args.token else format_all())
    return 0


COMMANDS = {"compile": cmd_compile, "check": cmd_check, "render": cmd_render, "zoo": cmd_zoo, "fmt": cmd_fmt, "bench": cmd_bench,
            "diff": cmd_diff, "lsp": cmd_lsp, "ops": cmd_ops,
            "scale": lambda a: _scaling("cmd_scale", a), "fit": lambda a: _scaling("cmd_fit", a),
            "sample": lambda a: _scaling("cmd_sample", a)}


def _scaling(name: str, args) -> int:
    from archdsl import cli_scaling

    return getattr(cli_scaling, name)(args)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        try:
            args = make_parser().parse_args(argv)
        except SystemExit as e:  # --help and --version print and stop: a normal exit
            return int(e.code or 0)
        if args.plugins:
            from archdsl.plugins import load_plugin

            for name in args.plugins:
                load_plugin(name)
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
