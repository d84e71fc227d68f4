"""Budgets as questions: compound scaling (`archdsl scale`), one-multiplier fitting
(`archdsl fit`) and design-space sampling (`archdsl sample`).

Every figure is counted on the checked IR (`compile_graph` + the summary backend's
per-node rule): no tensors, a few milliseconds per network, and every candidate reported
has passed the same checks as `archdsl check` (a candidate that does not check, e.g. a
width the group count does not divide, is reported as such and never chosen).

Parameters are changed the way the file itself would round them (`apply_multiplier`):
a list of integers whose entries are all multiples of 8 (channel widths) stays a list of
multiples of 8 (the MobileNet/EfficientNet `make_div` rule), other integer lists (depths)
stay positive integers, integers are rounded, floats are kept to four significant digits.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from typing import Any

from archdsl.errors import ArchError, Span
from archdsl.syntax import ast

METRICS = ("params", "macs")
PAPER_COEFFICIENTS = {"alpha": 1.2, "beta": 1.1, "gamma": 1.15}  # EfficientNet, Section 3.3
COEFFICIENT_ROLE = {"alpha": "depth", "beta": "width", "gamma": "resolution"}
_SCALE = {"": 1, "k": 10**3, "K": 10**3, "M": 10**6, "G": 10**9, "B": 10**9, "T": 10**12}


# ---- command-line values ---------------------------------------------------------------
def _flag_error(flag: str, text: str, message: str, hint: str) -> ArchError:
    return ArchError(message, Span(flag, 1, 1, max(1, len(text)), text), hint)


def parse_amount(text: str, flag: str) -> tuple[float, bool]:
    """`2x` -> (2.0, relative); `800M`, `1.5G`, `25000000` -> (absolute count, not relative)."""
    t = text.strip()
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)x", t)
    if m and float(m.group(1)) > 0:
        return float(m.group(1)), True
    m = re.fullmatch(r"(\d+(?:\.\d*)?(?:e\d+)?|\.\d+)([kKMGBT]?)", t)
    if m and float(m.group(1)) > 0:
        return float(m.group(1)) * _SCALE[m.group(2)], False
    raise _flag_error(flag, text, f"bad budget `{text}`", "write a count (25M, 1.5G, 800000000) or a multiple of the variant's (2x)")


def parse_range(text: str, flag: str) -> tuple[float, float]:
    """`400M..600M` -> (4e8, 6e8)."""
    lo, sep, hi = text.partition("..")
    if not sep:
        raise _flag_error(flag, text, f"bad range `{text}`", "write LOW..HIGH, e.g. 400M..600M")
    a, rel_a = parse_amount(lo, flag)
    b, rel_b = parse_amount(hi, flag)
    if rel_a or rel_b or a > b:
        raise _flag_error(flag, text, f"bad range `{text}`", "write LOW..HIGH with absolute counts, LOW <= HIGH, e.g. 400M..600M")
    return a, b


# ---- the design space of one file ----------------------------------------------------
@dataclass
class Candidate:
    values: dict[str, Any]  # the parameters changed (name -> value, as the variant line writes them)
    params: int | None = None
    macs: int | None = None
    error: str | None = None  # why it does not check
    note: dict[str, Any] = field(default_factory=dict)  # e.g. phi, multiplier

    @property
    def ok(self) -> bool:
        return self.error is None

    def metric(self, name: str) -> int:
        return self.params if name == "params" else self.macs


class Space:
    """One file and a base variant: compiles any overrides of its parameters (cached)."""

    def __init__(self, program: ast.Program, variant: str | None = None):
        from archdsl.passes.parameters import resolve_parameters

        self.program = program
        resolved = resolve_parameters(program, variant)
        self.variant = resolved.variant
        self.base = dict(resolved.values)
        self.types = dict(resolved.types)
        self._cache: dict[str, Candidate] = {}
        self.base_cost = self.evaluate({})
        if not self.base_cost.ok:
            raise ArchError(f"the base network does not check: {self.base_cost.error}", program.span)

    def evaluate(self, values: dict[str, Any], note: dict | None = None) -> Candidate:
        from archdsl.api import compile_graph
        from archdsl.backends.summary import node_cost

        key = repr(sorted(values.items()))
        hit = self._cache.get(key)
        if hit is None:
            hit = Candidate(dict(values), note=dict(note or {}))
            try:
                g = compile_graph(self.program, self.variant, **values)
            except ArchError as e:
                hit.error = e.message
            else:
                costs = [node_cost(g, n) for n in g if n.op != "input"]
                hit.params = sum(c[0] for c in costs)
                hit.macs = sum(c[1] for c in costs)
                hit.note["blocks"] = len(g.stage_blocks())
            self._cache[key] = hit
        return hit

    def require(self, name: str, flag: str, text: str) -> None:
        if name not in self.base:
            from archdsl.errors import did_you_mean

            raise _flag_error(flag, text, f"`{self.program.name}` has no parameter `{name}`",
                              did_you_mean(name, self.base) or "parameters: " + ", ".join(self.base))
        if not _scalable(self.base[name]):
            from archdsl.ir.values import describe

            raise _flag_error(flag, text, f"`{name}` is {describe(self.base[name])}: only numbers and lists of numbers can be scaled",
                              "vary a width, depth or resolution parameter")

    def variant_line(self, name: str, values: dict[str, Any]) -> str:
        """A `variant` line that makes this network: the base variant's settings with `values` over them."""
        from archdsl.ir.values import format_value

        assigns: dict[str, Any] = {}
        base_variant = self.program.variants.get(self.variant) if self.variant else None
        for a in base_variant.assigns if base_variant else ():
            assigns[a.name] = self.base[a.name]
        assigns.update(values)
        return f"variant {name}  " + "  ".join(f"{k}={format_value(v)}" for k, v in assigns.items())


def _scalable(v: Any) -> bool:
    num = (int, float)
    if isinstance(v, bool):
        return False
    if isinstance(v, num):
        return True
    return isinstance(v, list) and bool(v) and all(isinstance(x, num) and not isinstance(x, bool) for x in v)


def divisor_of(value: Any) -> int:
    """How the file rounds a list of counts: 8 when every entry is a multiple of 8 (widths), else 1."""
    if isinstance(value, list) and all(isinstance(x, int) and not isinstance(x, bool) for x in value):
        return 8 if all(x % 8 == 0 for x in value) else 1
    return 1


def apply_multiplier(value: Any, m: float, divisor: int | None = None, ceil: bool = False) -> Any:
    """`value` scaled by `m`, rounded as the file rounds it (see the module docstring)."""
    from archdsl.ir.values import make_divisible

    if isinstance(value, list):
        d = divisor_of(value) if divisor is None else divisor
        if all(isinstance(x, int) for x in value):
            if d > 1:
                return [make_divisible(x * m, d) for x in value]
            return [max(1, math.ceil(x * m - 1e-9) if ceil else int(math.floor(x * m + 0.5))) for x in value]
        return [_float(x * m) for x in value]
    if isinstance(value, int):
        return max(1, math.ceil(value * m - 1e-9) if ceil else int(math.floor(value * m + 0.5)))
    return _float(value * m)


def _float(x: float) -> float:
    return float(f"{x:.4g}")


def closest(cands: list[Candidate], metric: str, target: float) -> Candidate | None:
    ok = [c for c in cands if c.ok]
    return min(ok, key=lambda c: (abs(c.metric(metric) / target - 1), c.metric(metric))) if ok else None


# ---- fit: one multiplier ------------------------------------------------------------------
def fit(space: Space, vary: list[str], metric: str, target: float, divisor: int | None = None) -> tuple[Candidate | None, list[Candidate]]:
    """The multiplier m applied to every parameter in `vary` that brings `metric` closest to `target`."""

    def at(m: float) -> Candidate:
        values = {n: apply_multiplier(space.base[n], m, divisor) for n in vary}
        return space.evaluate(values, {"multiplier": m})

    return _solve(at, 1.0, metric, target, log=True, bounds=(1 / 64, 64.0))


def _solve(at, start: float, metric: str, target: float, log: bool, bounds: tuple[float, float]):
    """Bracket `target` by stepping from `start`, then bisect; the metric may be a step
    function (rounding) and some points may not check (skipped by nudging)."""
    seen: list[Candidate] = []

    def probe(x: float) -> Candidate | None:
        for k in range(12):  # a point that does not check: try close neighbours
            for sign in ((1,) if k == 0 else (1, -1)):
                y = x * (1 + sign * 0.004 * k) if log else x + sign * 0.004 * k
                c = at(y)
                seen.append(c)
                if c.ok:
                    return c
        return None

    c0 = probe(start)
    if c0 is None:
        return None, seen
    step = 1.25 if log else 0.5
    lo_x = hi_x = start
    if c0.metric(metric) < target:
        while True:
            hi_x = hi_x * step if log else hi_x + step
            c = probe(hi_x)
            if hi_x > bounds[1] or (c is not None and c.metric(metric) >= target):
                break
            lo_x = hi_x
    else:
        while True:
            lo_x = lo_x / step if log else lo_x - step
            c = probe(lo_x)
            if lo_x < bounds[0] or (c is not None and c.metric(metric) <= target):
                break
            hi_x = lo_x
    for _ in range(40):
        mid = math.sqrt(lo_x * hi_x) if log else (lo_x + hi_x) / 2
        c = probe(mid)
        if c is None:
            break
        if c.metric(metric) < target:
            lo_x = mid
        else:
            hi_x = mid
        if (hi_x / lo_x - 1 if log else hi_x - lo_x) < 1e-4:
            break
    unique = list({repr(sorted(c.values.items())): c for c in seen}.values())
    return closest(unique, metric, target), unique


# ---- scale: compound scaling ------------------------------------------------------------
def _names_in(e: Any) -> set[str]:
    import dataclasses

    out: set[str] = set()
    if isinstance(e, ast.Name):
        out.add(e.id)
    elif isinstance(e, list):
        for x in e:
            out |= _names_in(x)
    elif dataclasses.is_dataclass(e):
        for f in dataclasses.fields(e):
            if f.name != "span":
                out |= _names_in(getattr(e, f.name))
    return out


def detect_roles(space: Space) -> dict[str, str]:
    """coefficient -> parameter, found from the file (the convention documented in docs/scaling.md):

    gamma (resolution): the parameter the `input` line is written with;
    alpha (depth): a float parameter that adds stage blocks when it grows (measured at x1.5);
    beta (width): a float parameter that adds parameters, not blocks, when it grows.
    """
    p = space.program
    roles: dict[str, str] = {}
    if p.input is not None:
        res = [n for n in sorted(_names_in(p.input.dims)) if n in space.base and _scalable(space.base[n])]
        if len(res) == 1:
            roles["gamma"] = res[0]
    base = space.base_cost
    depth, width = [], []
    for name, v in space.base.items():
        if space.types.get(name) != "float" or not isinstance(v, float) or v <= 0 or name in roles.values():
            continue
        c = space.evaluate({name: _float(v * 1.5)})
        if not c.ok:
            continue
        if c.note["blocks"] > base.note["blocks"]:
            depth.append(name)
        elif c.params > base.params:
            width.append(name)
    if len(depth) == 1:
        roles["alpha"] = depth[0]
    if len(width) == 1:
        roles["beta"] = width[0]
    return roles


def parse_roles(text: str, space: Space, flag: str = "--vary") -> dict[str, str]:
    """`width=beta,depth=alpha,res=gamma` -> {beta: width, alpha: depth, gamma: res}."""
    roles: dict[str, str] = {}
    for part in filter(None, (s.strip() for s in text.split(","))):
        name, sep, coef = part.partition("=")
        if not sep or coef not in PAPER_COEFFICIENTS:
            raise _flag_error(flag, text, f"bad scaling role `{part}`",
                              "write PARAM=alpha|beta|gamma, e.g. --vary width=beta,depth=alpha,res=gamma")
        space.require(name, flag, text)
        if coef in roles:
            raise _flag_error(flag, text, f"`{coef}` is given twice", "one parameter per coefficient")
        roles[coef] = name
    return roles


def scale_values(space: Space, roles: dict[str, str], coefs: dict[str, float], phi: float) -> dict[str, Any]:
    out = {}
    for coef, name in roles.items():
        out[name] = apply_multiplier(space.base[name], coefs[coef] ** phi, ceil=(coef == "alpha"))
    return out


def solve_phi(space: Space, roles: dict[str, str], coefs: dict[str, float], metric: str, target: float):
    """The phi whose scaled network comes closest to `target` (and every network tried)."""

    def at(phi: float) -> Candidate:
        return space.evaluate(scale_values(space, roles, coefs, phi), {"phi": phi, **coefs})

    best, cands = _solve(at, 0.0, metric, target, log=False, bounds=(-8.0, 12.0))
    return best, cands


def compound_grid(space: Space, roles: dict[str, str], step: float = 0.05, top: float = 1.5, constraint: float = 2.0) -> list[Candidate]:
    """The paper's grid at phi = 1: alpha, beta >= 1 in steps, gamma from alpha*beta^2*gamma^2 = 2
    (>= 1); each point measured (its real MACs ratio to the base, which the formula only estimates)."""
    out = []
    n = int(round((top - 1) / step))
    for i in range(n + 1):
        for j in range(n + 1):
            alpha, beta = round(1 + i * step, 4), round(1 + j * step, 4)
            g2 = constraint / (alpha * beta**2)
            if g2 < 1:
                continue
            coefs = {"alpha": alpha, "beta": beta, "gamma": round(math.sqrt(g2), 4)}
            if "gamma" not in roles and g2 > 1 + 1e-9:
                continue  # no resolution parameter: only grid points that leave the resolution alone
            c = space.evaluate(scale_values(space, roles, coefs, 1.0), {"phi": 1.0, **coefs})
            out.append(c)
    return out


# ---- sample: a design space ------------------------------------------------------------------
def sample(space: Space, vary: list[str], n: int, seed: int, bounds: dict[str, tuple[float, float]],
           spread: float = 2.0, increasing: bool = False, max_tries: int | None = None) -> tuple[list[Candidate], int]:
    """Up to `n` distinct networks drawn from the space around the base variant (each varied
    value, or each entry of a varied list, log-uniform in [v / spread, v * spread], rounded as
    the file rounds it), keeping those that check and fall inside `bounds` (metric -> (lo, hi)).
    Returns the samples and the number of draws."""
    rng = random.Random(seed)
    tries = 0
    limit = max_tries if max_tries is not None else 200 * n
    out: list[Candidate] = []
    seen: set[str] = set()
    while len(out) < n and tries < limit:
        tries += 1
        values = {name: _draw(rng, space.base[name], spread, increasing) for name in vary}
        key = repr(sorted(values.items()))
        if key in seen:
            continue
        seen.add(key)
        c = space.evaluate(values, {"draw": tries})
        if c.ok and all(lo <= c.metric(m) <= hi for m, (lo, hi) in bounds.items()):
            out.append(c)
    return out, tries


def _draw(rng: random.Random, v: Any, spread: float, increasing: bool) -> Any:
    ls = math.log(spread)
    if isinstance(v, list):
        d = divisor_of(v)
        drawn = [apply_multiplier([x], math.exp(rng.uniform(-ls, ls)), d)[0] for x in v]
        return sorted(drawn) if increasing else drawn
    return apply_multiplier(v, math.exp(rng.uniform(-ls, ls)))
