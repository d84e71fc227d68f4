"""`archdsl scale`, `archdsl fit` and `archdsl sample`: the command-line side of
`archdsl.scaling` (arguments, budgets, what is printed). Registered by `archdsl.cli`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from archdsl.errors import ArchError, Span
from archdsl.errors import UsageError as _UsageError


def _budget_args(p: argparse.ArgumentParser, relative: bool = True) -> None:
    p.add_argument("file", help="the .arch file")
    p.add_argument("--variant", "-v", help="the base variant (default: the file's first)")
    what = "TARGET (e.g. 2x the variant's, 800M, 1.5G)" if relative else "LOW..HIGH (e.g. 400M..600M)"
    p.add_argument("--macs", metavar="TARGET" if relative else "LOW..HIGH", help=f"MACs budget: {what}")
    p.add_argument("--params", metavar="TARGET" if relative else "LOW..HIGH", help=f"parameter budget: {what}")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def add_parsers(sub) -> None:
    s = sub.add_parser("scale", help="compound scaling (EfficientNet): the phi whose depth/width/resolution meet a budget")
    _budget_args(s)
    s.add_argument("--vary", metavar="P=alpha,P=beta,P=gamma",
                   help="which parameters scale depth (alpha), width (beta) and resolution (gamma); default: detected (docs/scaling.md)")
    s.add_argument("--coef", metavar="ALPHA,BETA,GAMMA", help="the coefficients (default: the paper's 1.2,1.1,1.15)")
    s.add_argument("--grid", action="store_true",
                   help="the paper's grid of alpha, beta, gamma under alpha*beta^2*gamma^2 = 2, measured at phi=1; "
                        "each point that doubles the MACs is scaled to the budget")
    s.add_argument("--grid-step", type=float, default=0.05, help="grid step of alpha and beta")
    s.add_argument("--grid-tolerance", type=float, default=0.1,
                   help="keep grid points whose measured MACs at phi=1 are within this fraction of 2x")
    s.add_argument("--name", help="name of the printed variant (default: VARIANT_TARGET)")
    f = sub.add_parser("fit", help="one multiplier on the given parameters so the network meets a budget")
    _budget_args(f)
    f.add_argument("--vary", required=True, metavar="NAME[,NAME...]",
                   help="parameters (numbers or lists of numbers) to multiply, e.g. dims")
    f.add_argument("--divisor", type=int, help="round list entries to multiples of this (default: 8 for lists of multiples of 8, else 1)")
    f.add_argument("--name", help="name of the printed variant (default: VARIANT_TARGET)")
    m = sub.add_parser("sample", help="draw networks from the design space around a variant (RegNet AnyNet-style), within budgets")
    _budget_args(m, relative=False)
    m.add_argument("--vary", required=True, metavar="NAME[,NAME...]", help="parameters to sample, e.g. depths,dims")
    m.add_argument("--n", type=int, default=10, help="number of networks")
    m.add_argument("--seed", type=int, default=0, help="random seed (same seed, same networks)")
    m.add_argument("--spread", type=float, default=2.0, help="each value is drawn log-uniformly in [v/spread, v*spread]")
    m.add_argument("--increasing", action="store_true", help="sort every sampled list ascending (widths and depths that never shrink)")
    m.add_argument("-o", "--output", metavar="DIR", help="also write one .arch file per sample (the sample as its first variant)")
    m.add_argument("--plot", metavar="FILE", help="plot params vs MACs to .svg/.png/.pdf (needs matplotlib)")
    m.add_argument("--bench", action="store_true", help="also measure each sample's CPU throughput (builds the models) and plot it")
    m.add_argument("--bench-batch", type=int, default=8, help="batch size of --bench")


def _space_and_budget(args, relative: bool = True):
    from archdsl.api import parse
    from archdsl.scaling import Space, parse_amount, parse_range

    chosen = [m for m in ("macs", "params") if getattr(args, m)]
    if not chosen:
        raise _UsageError("give a budget: --macs or --params")
    space = Space(parse(Path(args.file)), args.variant)
    if not relative:
        return space, {m: parse_range(getattr(args, m), f"--{m}") for m in chosen}
    if len(chosen) > 1:
        raise _UsageError("give one budget: --macs or --params")
    metric = chosen[0]
    amount, rel = parse_amount(getattr(args, metric), f"--{metric}")
    target = amount * space.base_cost.metric(metric) if rel else amount
    return space, metric, target


def _vary_list(space, text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise _UsageError("--vary needs parameter names")
    for n in names:
        space.require(n, "--vary", text)
    return names


def _report_budget(space, metric: str, target: float, best, name: str, cands, extra, args, header: list[str]) -> int:
    from archdsl.scaling_report import candidate_json, table, variant_name

    name = args.name or f"{space.variant or space.program.name}_{variant_name(getattr(args, metric))}"
    line = space.variant_line(name, best.values) if best is not None else None
    if args.json:
        print(json.dumps({"name": space.program.name, "variant": space.variant, "metric": metric, "target": target,
                          "base": {"params": space.base_cost.params, "macs": space.base_cost.macs},
                          "best": candidate_json(best) if best else None, "variant_line": line,
                          "candidates": [candidate_json(c) for c in cands]}))
    else:
        base = space.base_cost.metric(metric)
        print(f"{space.program.name} ({space.variant}): {metric} {base:,} -> target {int(target):,} ({target / base:.3g}x)")
        print("\n".join(header))
        if best is not None:
            print(f"best: {metric} {best.metric(metric):,} ({(best.metric(metric) / target - 1) * 100:+.2f}% of the target), "
                  f"params {best.params:,}, MACs {best.macs:,}")
            print(f"\n{line}\n")
        print(table(cands, metric, target, extra))
    if best is None:
        raise ArchError(f"no candidate network checks near the target ({len(cands)} tried)", space.program.span,
                        "see the table: each row says why it fails; try other parameters or a divisor")
    return 0


def cmd_scale(args) -> int:
    from archdsl.scaling import COEFFICIENT_ROLE, PAPER_COEFFICIENTS, detect_roles, parse_roles, solve_phi

    space, metric, target = _space_and_budget(args)
    roles = parse_roles(args.vary, space) if args.vary else detect_roles(space)
    if "alpha" not in roles and "beta" not in roles:
        raise ArchError(f"no depth or width parameter found in `{space.program.name}`", space.program.span,
                        "name them: --vary width=beta,depth=alpha,res=gamma (see docs/scaling.md)")
    coefs = dict(PAPER_COEFFICIENTS)
    if args.coef:
        parts = args.coef.split(",")
        try:
            vals = [float(x) for x in parts]
        except ValueError:
            vals = []
        if len(vals) != 3 or min(vals) <= 0:
            raise ArchError(f"bad coefficients `{args.coef}`", Span("--coef", 1, 1, len(args.coef), args.coef),
                            "write ALPHA,BETA,GAMMA, e.g. 1.2,1.1,1.15")
        coefs = dict(zip(("alpha", "beta", "gamma"), vals))
    header = ["scaling: " + ", ".join(f"{COEFFICIENT_ROLE[c]} `{roles[c]}` ({c})" for c in ("alpha", "beta", "gamma") if c in roles)
              + ("" if args.vary else " (detected; --vary to choose)")]
    if args.grid:
        return _scale_grid(space, roles, metric, target, args, header)
    header.append("coefficients: " + ", ".join(f"{k}={v}" for k, v in coefs.items()) + ("" if args.coef else " (the paper's)"))
    best, cands = solve_phi(space, roles, coefs, metric, target)
    if best is not None:
        header.append(f"phi = {best.note['phi']:.4f}")
    return _report_budget(space, metric, target, best, args.name, cands, ("phi",), args, header)


def _scale_grid(space, roles, metric, target, args, header) -> int:
    """The paper's grid at phi = 1, kept where the measured MACs ratio is within 10% of 2 (the
    constraint alpha*beta^2*gamma^2 = 2 only estimates it); each point then scaled to the target.
    Which point is best needs training (the paper picks by accuracy), so every one is printed."""
    from archdsl.scaling import compound_grid, solve_phi
    from archdsl.scaling_report import candidate_json, table, variant_name

    base = space.base_cost.macs
    tol = args.grid_tolerance
    grid = [c for c in compound_grid(space, roles, step=args.grid_step) if c.ok and abs(c.macs / base / 2 - 1) <= tol]
    if not grid:
        raise ArchError(f"no grid point doubles the MACs within {tol:.0%}", space.program.span,
                        "try another --grid-step, a larger --grid-tolerance or --vary")
    prefix = args.name or f"{space.variant or space.program.name}_{variant_name(getattr(args, metric))}"
    rows = []
    for k, point in enumerate(grid):
        coefs = {c: point.note[c] for c in ("alpha", "beta", "gamma")}
        best, _ = solve_phi(space, roles, coefs, metric, target)
        if best is None:
            continue
        best.note["MACs x at phi=1"] = round(point.macs / base, 3)
        best.note["variant"] = f"{prefix}_g{k}"
        rows.append((best, space.variant_line(f"{prefix}_g{k}", best.values)))
    if args.json:
        print(json.dumps({"name": space.program.name, "variant": space.variant, "metric": metric, "target": target,
                          "grid": [{**candidate_json(c), "variant_line": line} for c, line in rows]}))
        return 0
    base_m = space.base_cost.metric(metric)
    print(f"{space.program.name} ({space.variant}): {metric} {base_m:,} -> target {int(target):,} ({target / base_m:.3g}x)")
    print("\n".join(header))
    print(f"grid: alpha, beta >= 1 in steps of {args.grid_step}, gamma from alpha*beta^2*gamma^2 = 2, kept where the measured "
          f"MACs at phi = 1 are 2x within {tol:.0%}: {len(rows)} points, each scaled to the target (pick by training)\n")
    print(table([c for c, _ in rows], metric, target, ("variant", "alpha", "beta", "gamma", "MACs x at phi=1", "phi"), limit=len(rows)))
    print()
    for _, line in rows:
        print(line)
    return 0


def cmd_fit(args) -> int:
    from archdsl.scaling import fit

    space, metric, target = _space_and_budget(args)
    names = _vary_list(space, args.vary)
    if args.divisor is not None and args.divisor < 1:
        raise _UsageError("--divisor must be at least 1")
    best, cands = fit(space, names, metric, target, args.divisor)
    header = [f"varying {', '.join(names)} by one multiplier"]
    if best is not None:
        header.append(f"multiplier = {best.note['multiplier']:.4f}")
    return _report_budget(space, metric, target, best, args.name, cands, ("multiplier",), args, header)


def cmd_sample(args) -> int:
    from archdsl.scaling import sample
    from archdsl.scaling_report import candidate_json, measure_throughput, plot, write_samples

    space, bounds = _space_and_budget(args, relative=False)
    names = _vary_list(space, args.vary)
    if args.n < 1 or args.spread <= 1:
        raise _UsageError("--n must be at least 1 and --spread above 1")
    if args.plot:
        from archdsl.scaling_report import plot as _check  # noqa: F401  (fail on a bad name before any work)

        if Path(args.plot).suffix.lower() not in (".svg", ".png", ".pdf"):
            raise ArchError(f"cannot plot to `{args.plot}`", Span("--plot", 1, 1, len(args.plot), args.plot), "write .svg, .png or .pdf")
    samples, tries = sample(space, names, args.n, args.seed, bounds, args.spread, args.increasing)
    if len(samples) < args.n:  # before anything is printed or written
        raise ArchError(f"found only {len(samples)} of {args.n} networks within the budget in {tries} draws", space.program.span,
                        "widen the budget or --spread, or vary other parameters")
    named = [(f"s{k:03d}", c) for k, c in enumerate(samples)]
    speed = [measure_throughput(space, c, args.bench_batch) for _, c in named] if args.bench else None
    # files first: a folder or plot that cannot be written fails before anything is printed
    if args.output:
        stem = Path(args.file).stem
        paths = write_samples(space, named, args.output, stem)
        print(f"wrote {len(paths)} files to {args.output}", file=sys.stderr)
    if args.plot:
        title = f"{space.program.name}: {len(samples)} samples around {space.variant} (seed {args.seed})"
        plot(args.plot, title, space.base_cost, samples, bounds.get("macs"), speed)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        recs = [{"name": n, **candidate_json(c), "variant_line": space.variant_line(n, c.values)} for n, c in named]
        for r, s in zip(recs, speed or []):
            r["images_per_s"] = s
        print(json.dumps({"name": space.program.name, "variant": space.variant, "seed": args.seed, "draws": tries, "samples": recs}))
    else:
        for (n, c), s in zip(named, speed or [None] * len(named)):
            tail = f"  # params {c.params / 1e6:.2f}M, MACs {c.macs / 1e9:.3f}G" + (f", {s:.1f} img/s" if s else "")
            print(space.variant_line(n, c.values) + tail)
    print(f"{len(samples)} networks from {tries} draws", file=sys.stderr)
    return 0
