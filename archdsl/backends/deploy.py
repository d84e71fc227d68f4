"""The deploy form of a built network: inference passes on its IR, then its weights moved over.

`optimize_for_inference(model)` takes a network built by `archdsl.build` (trained or with
loaded reference weights), runs the IR inference passes (archdsl/passes/inference.py) on
the graph it was built from, builds the rewritten network from its generated code, and
fills it with the trained tensors, merged where the passes merged layers (float64
arithmetic, stored in the original dtype). The result computes the same function as
`model.eval()`. Weights are stored channels-last where that pays on CPU (`channels_last`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from archdsl.passes.inference import INFERENCE_PASSES, FoldNorm, FoldScale, MergeBranches, run_inference_passes

DEPLOY_PASSES = [n for n, _ in INFERENCE_PASSES] + ["channels_last"]


def _double(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64)


def _bn(sd: dict[str, torch.Tensor], prefix: str, eps: float) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) of an eval-mode BatchNorm: y = x * scale + shift."""
    var, mean = _double(sd[f"{prefix}.running_var"]), _double(sd[f"{prefix}.running_mean"])
    gamma = _double(sd[f"{prefix}.weight"]) if f"{prefix}.weight" in sd else torch.ones_like(var)
    beta = _double(sd[f"{prefix}.bias"]) if f"{prefix}.bias" in sd else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + eps)
    return scale, beta - mean * scale


def _drop(sd: dict[str, torch.Tensor], prefix: str) -> None:
    for k in [k for k in sd if k.startswith(prefix + ".") or k == prefix]:
        del sd[k]


def apply_rewrites(sd: dict[str, torch.Tensor], records: list) -> dict[str, torch.Tensor]:
    """The trained state dict `sd` rewritten for the merged layers the records describe."""
    sd = dict(sd)
    for r in records:
        if isinstance(r, FoldNorm):
            w = sd[f"{r.conv}.weight"]
            scale, shift = _bn(sd, r.bn, r.eps)
            bias = _double(sd[f"{r.conv}.bias"]) if r.conv_bias else torch.zeros_like(scale)
            sd[f"{r.conv}.weight"] = (_double(w) * scale.reshape(-1, 1, 1, 1)).to(w.dtype)
            sd[f"{r.conv}.bias"] = (bias * scale + shift).to(w.dtype)
            _drop(sd, r.bn)
        elif isinstance(r, FoldScale):
            w, gamma = sd[f"{r.layer}.weight"], _double(sd[r.gamma])
            sd[f"{r.layer}.weight"] = (_double(w) * gamma.reshape(-1, *([1] * (w.dim() - 1)))).to(w.dtype)
            if r.has_bias:
                sd[f"{r.layer}.bias"] = (_double(sd[f"{r.layer}.bias"]) * gamma).to(w.dtype)
            del sd[r.gamma]
        elif isinstance(r, MergeBranches):
            _merge(sd, r)
    return sd


def _merge(sd: dict[str, torch.Tensor], r: MergeBranches) -> None:
    kh, kw = r.kernel
    first = next(b for b in r.branches if b.conv is not None)
    ref = sd[f"{first.conv}.weight"]
    cin_g = ref.shape[1]
    kernel = torch.zeros(r.channels, cin_g, kh, kw, dtype=torch.float64, device=ref.device)
    bias = torch.zeros(r.channels, dtype=torch.float64, device=ref.device)
    for b in r.branches:
        if b.conv is not None:
            w = _double(sd[f"{b.conv}.weight"])
            sh, sw = b.kernel
            w = nn.functional.pad(w, [(kw - sw) // 2] * 2 + [(kh - sh) // 2] * 2)
            c_bias = _double(sd[f"{b.conv}.bias"]) if b.conv_bias else torch.zeros_like(bias)
        else:
            w = torch.zeros_like(kernel)
            idx = torch.arange(r.channels, device=ref.device)
            w[idx, idx % cin_g, (kh - 1) // 2, (kw - 1) // 2] = 1.0
            c_bias = torch.zeros_like(bias)
        if b.bn is not None:
            scale, shift = _bn(sd, b.bn, b.eps)
            w, c_bias = w * scale.reshape(-1, 1, 1, 1), c_bias * scale + shift
        kernel += w
        bias += c_bias
    for b in r.branches:
        for prefix in (b.conv, b.bn):
            if prefix is not None:
                _drop(sd, prefix)
    sd[f"{r.target}.weight"] = kernel.to(ref.dtype)
    sd[f"{r.target}.bias"] = bias.to(ref.dtype)


def channels_last_pays(model: nn.Module) -> bool:
    """The measured rule (docs/performance.md): a network of mostly convolutions (more Conv2d
    than Linear layers) runs faster with channels-last weights on CPU; others do not gain."""
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    linears = sum(isinstance(m, nn.Linear) for m in model.modules())
    return convs > linears


def optimize_for_inference(model: nn.Module, passes: list[str] | None = None) -> nn.Module:
    """An eval-mode deploy copy of a network built by `archdsl.build` (all passes by default).

    The result carries `inference_passes` (the names that ran) and `inference_counts`
    (how much each changed: dropouts removed, sums merged, norms and scales folded,
    tensors stored channels-last)."""
    from archdsl.backends.load import build_module

    graph = getattr(model, "arch_graph", None)
    if graph is None:
        raise TypeError(f"inference passes work on networks built by archdsl.build, got {type(model).__name__}")
    wanted = DEPLOY_PASSES if passes is None else list(passes)
    unknown = [p for p in wanted if p not in DEPLOY_PASSES]
    if unknown:
        raise ValueError(f"unknown inference pass(es) {unknown}; known: {DEPLOY_PASSES}")
    g, records, counts = run_inference_passes(graph, [p for p in wanted if p != "channels_last"])
    ref = next(iter(model.parameters()), None)
    with torch.device(ref.device if ref is not None else "cpu"):
        out = build_module(g, init=False)
    sd = apply_rewrites(model.state_dict(), records)
    out = out.to(dtype=ref.dtype) if ref is not None else out
    out.load_state_dict(sd, strict=True)
    out.eval()
    if "channels_last" in wanted:
        counts["channels_last"] = 0
        if channels_last_pays(out):
            counts["channels_last"] = sum(1 for t in [*out.parameters(), *out.buffers()]
                                          if t.dim() == 4 and not t.is_contiguous(memory_format=torch.channels_last))
            out.to(memory_format=torch.channels_last)
    out.inference_passes = [p for p in DEPLOY_PASSES if p in wanted]
    out.inference_counts = counts
    for name, attr in COUNT_ATTRIBUTES.items():
        if name in counts:
            setattr(out, attr, counts[name])
    return out


# each pass's count, also as an attribute of the result: `model.folded_batchnorms`
COUNT_ATTRIBUTES = {"remove_dropout": "removed_dropouts", "reparameterize": "reparameterized", "fold_batchnorm": "folded_batchnorms",
                    "fold_layer_scale": "folded_layer_scales", "channels_last": "channels_last_tensors"}


def remove_dropout(model: nn.Module) -> nn.Module:
    """An eval-mode copy without dropout and drop-path (`.removed_dropouts` counts them)."""
    return optimize_for_inference(model, ["remove_dropout"])


def reparameterize(model: nn.Module) -> nn.Module:
    """An eval-mode copy with every mergeable branch sum merged into one conv (RepVGG and
    RepLKNet deploy forms; `.reparameterized` counts the merges)."""
    return optimize_for_inference(model, ["reparameterize"])


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy with every conv -> BatchNorm pair folded into the conv (`.folded_batchnorms`)."""
    return optimize_for_inference(model, ["fold_batchnorm"])


__all__: list[Any] = ["DEPLOY_PASSES", "apply_rewrites", "channels_last_pays", "fold_batchnorm", "optimize_for_inference", "remove_dropout",
                      "reparameterize"]
