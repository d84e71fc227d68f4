"""Checking a weight transfer: one forward of both networks on a fixed input.

After `load_reference` copies the weights, both models run once in eval mode on the same
seeded input, in float64 copies when that is affordable (else float32 in place, with a
looser tolerance), and their outputs are compared. When they differ (or cannot be
compared: strict=False left a new head), both run again with forward hooks on the matched
module pairs (a module of ours and one of the reference's whose tensors were paired one to
one, leaves and blocks alike), which record a fingerprint of each output: its sum and sum
of squares (layout-free, so an NCHW map and its NHWC twin compare) and, where the shapes
are equal, a fixed pseudo-random projection (so a channel permutation does not pass). The
first module of ours, in the order the forward completes them, whose fingerprint differs
from its partner's is named: that is where the two networks part.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.utils._pytree import tree_flatten

FLOAT64_MAX_PARAMS = 150_000_000  # both models together: float64 copies below this, float32 in place above
RTOL = {torch.float64: 1e-6, torch.float32: 1e-3}


@dataclass
class Divergence:
    ours: str
    reference: str
    error: float


@dataclass
class Report:
    dtype: torch.dtype
    error: float | None  # max|a - b| / max|b| of the final outputs (None: not compared)
    rtol: float
    modules_compared: int
    first_divergence: Divergence | None
    problem: str = ""  # outputs of other shapes, or not finite

    @property
    def ok(self) -> bool:
        outputs_ok = self.error is not None and math.isfinite(self.error) and self.error < self.rtol
        return (outputs_ok or self.error is None) and self.first_divergence is None


def module_pairs(pairs: dict[str, str], ours: nn.Module, ref: nn.Module, ours_names: list[str],
                 ref_names: list[str]) -> list[tuple[str, str]]:
    """(our module, reference module) whose paired tensors correspond one to one: every
    matched tensor in our module's subtree is paired into the reference module's subtree and
    the reference module holds no other matched tensor. In our module order."""
    def subtrees(names: list[str]) -> dict[str, set]:
        out: dict[str, set] = {}
        for n in names:
            parts = n.split(".")
            for k in range(len(parts)):
                out.setdefault(".".join(parts[:k]), set()).add(n)
        return out

    ref_sets = subtrees(ref_names)
    ref_index: dict[frozenset, str] = {}
    for name, _ in ref.named_modules():
        if name in ref_sets:
            ref_index.setdefault(frozenset(ref_sets[name]), name)  # the outermost of nested modules with the same tensors
    ours_sets = subtrees(ours_names)
    out = []
    for name, _ in ours.named_modules():
        s = ours_sets.get(name)
        if not s or not all(n in pairs for n in s):
            continue
        partner = ref_index.get(frozenset(pairs[n] for n in s))
        if partner is not None:
            out.append((name, partner))
    return out


class _Fingerprints:
    def __init__(self):
        self.w = torch.zeros(0, dtype=torch.float64)

    def weights(self, n: int) -> torch.Tensor:
        if self.w.numel() < n:
            k = torch.arange(max(n, 2 * self.w.numel()), dtype=torch.float64)
            self.w = torch.cos(k * 2.399963229728653) * (1.0 + (k * 0.6180339887498949) % 1.0)  # golden-angle sequence
        return self.w[:n]

    def of(self, y: torch.Tensor) -> tuple:
        y = y.detach().to(torch.float64).reshape(-1)
        return (tuple(y.shape), y.numel(), y.sum().item(), torch.dot(y, y).item(), torch.dot(y, self.weights(y.numel())).item())


def _first_tensor(output: Any) -> torch.Tensor | None:
    for t in tree_flatten(output)[0]:
        if isinstance(t, torch.Tensor) and t.is_floating_point():
            return t
    return None


def _record(model: nn.Module, names: list[str], fp: _Fingerprints, log: dict, order: list):
    handles = []
    modules = dict(model.named_modules())

    def hook(name):
        def run(module, args, output):
            y = _first_tensor(output)
            if y is not None:
                log.setdefault(name, []).append((fp.of(y), tuple(y.shape)))
                order.append(name)
        return run

    for name in dict.fromkeys(names):
        handles.append(modules[name].register_forward_hook(hook(name)))
    return handles


def _difference(a: tuple, b: tuple, same_shape: bool) -> float:
    (_, na, sa, qa, pa), (_, nb, sb, qb, pb) = a, b
    if na != nb:
        return math.inf
    if not all(math.isfinite(v) for v in (sa, qa, pa, sb, qb, pb)):
        return math.inf  # NaN or inf on either side
    scale = math.sqrt(max(qb, 1e-300))
    d = max(abs(sa - sb) / (scale * math.sqrt(nb)), abs(qa - qb) / max(qb, 1e-300))
    if same_shape:
        d = max(d, abs(pa - pb) / (scale * 2 * math.sqrt(nb)))
    return d


def _outputs(y: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(y)[0] if isinstance(t, torch.Tensor)]


def verify(ours: nn.Module, ref: nn.Module, pairs: list[tuple[str, str]], input_shape: tuple[int, ...],
           compare_outputs: bool = True, rtol: float | None = None, seed: int = 0) -> Report:
    """One forward of both models on the same input; where the outputs differ (or are not
    compared: strict=False), a second, hooked forward compares the matched modules."""
    n_params = sum(p.numel() for p in ours.parameters()) + sum(p.numel() for p in ref.parameters())
    dtype = torch.float64 if n_params <= FLOAT64_MAX_PARAMS else torch.float32
    tol = rtol if rtol is not None else RTOL[dtype]
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    models = [copy.deepcopy(m).to(torch.float64) if dtype == torch.float64 else m for m in (ref, ours)]
    error, problem = None, ""
    if compare_outputs:
        b, a = (_forward(m, x, dtype) for m in models)
        error, problem = _compare(a, b)
        if error < tol:
            return Report(dtype, error, tol, 0, None)
    fp = _Fingerprints()
    (ref_log, _), (ours_log, order) = (_forward(m, x, dtype, names, fp)
                                       for m, names in zip(models, ([b for _, b in pairs], [a for a, _ in pairs])))
    partner = dict(pairs)
    first = None
    compared = 0
    seen: dict[str, int] = {}
    for name in order:  # our modules in the order their calls completed
        k = seen.get(name, 0)
        seen[name] = k + 1
        r = partner[name]
        if len(ours_log[name]) != len(ref_log.get(r, ())):
            continue  # called another number of times: no call-by-call correspondence
        (fa, sha), (fb, shb) = ours_log[name][k], ref_log[r][k]
        compared += 1
        d = _difference(fa, fb, sha == shb)
        if d >= tol and first is None:
            first = Divergence(name, r, d)
    return Report(dtype, error, tol, compared, first, problem)


def _forward(model: nn.Module, x: torch.Tensor, dtype: torch.dtype, names: list[str] | None = None,
             fp: _Fingerprints | None = None):
    """The model's outputs (on the CPU) in eval mode; with `names`, instead the fingerprints
    of those modules' outputs and the order their calls completed."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    log: dict = {}
    order: list = []
    handles = _record(model, names, fp, log, order) if names is not None else []
    try:
        device = next((p.device for p in model.parameters()), x.device)
        with torch.no_grad():
            out = [t.detach().to("cpu") for t in _outputs(model(x.to(dtype=dtype, device=device)))]
    finally:
        for h in handles:
            h.remove()
        for m, flag in flags:
            m.training = flag
    return (log, order) if names is not None else out


def _compare(a: list[torch.Tensor], b: list[torch.Tensor]) -> tuple[float, str]:
    """max|a - b| / max|b| over the outputs, and what is wrong if they cannot compare."""
    if len(a) != len(b) or any(u.shape != v.shape for u, v in zip(a, b)):
        return math.inf, (f"the outputs have other shapes ({', '.join('x'.join(map(str, u.shape)) for u in a)} against "
                          f"{', '.join('x'.join(map(str, v.shape)) for v in b)})")
    error = max(((u.double() - v.double()).abs().max() / v.double().abs().max().clamp_min(1e-300)).item()
                for u, v in zip(a, b)) if a else 0.0
    if not math.isfinite(error):
        return math.inf, "the outputs are not finite (NaN or inf)"
    return error, ""
