"""`reparameterize`: structural re-parameterization, the deploy form of multi-branch blocks.

A sum of parallel linear branches that all read the same tensor,

    add: [bn] [conv3 bn] [conv1 bn]          RepVGG (Ding et al., 2021)
    add: [dw31 bn] [dw5 bn]                  RepLKNet (Ding et al., 2022)

is, in eval mode, one convolution: each branch is a conv (a BatchNorm after it folded in,
see `fold_batchnorm`), a lone BatchNorm (a per-channel scale of the identity) or the
identity itself, and convolution is linear, so the kernels add once the smaller ones are
zero-padded to the largest (centred) and the identity is written as a centred one-hot
kernel. The merged conv has the largest branch's kernel, stride and padding, and a bias.

Like `fold_batchnorm` this is a model -> model function, not an IR -> IR pass: the IR holds
no weights, and the merge is arithmetic on trained weights. It works on the modules the
torch backend built: in each group, a branch-sum step whose inputs are all such branches
of one common input (every intermediate read only by its branch) becomes one conv step;
the branch modules are removed and the merged conv takes the name of the largest-kernel
conv. Sums it cannot merge exactly (different strides or groups, dilation, kernels whose
centres do not line up, a nonlinearity inside a branch) are left as they are. The input
model is left untouched; the copy is in eval mode.
"""

from __future__ import annotations

import copy
import operator

import torch
from torch import nn

from archdsl.backends.torch_module import _FN, _MOD, GraphModule, set_steps
from archdsl.ops.structure import add_all


def _resolve(module: nn.Module, path: tuple[str, ...]) -> nn.Module:
    for p in path:
        module = getattr(module, p)
    return module


def _bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """y = x * scale + shift for a BatchNorm2d in eval mode (float64)."""
    var, mean = bn.running_var.double(), bn.running_mean.double()
    gamma = bn.weight.detach().double() if bn.affine else torch.ones_like(var)
    beta = bn.bias.detach().double() if bn.affine else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    return scale, beta - mean * scale


def _usable_bn(m: nn.Module) -> bool:
    return type(m) is nn.BatchNorm2d and m.track_running_stats and m.running_var is not None


def _usable_conv(m: nn.Module) -> bool:
    return (type(m) is nn.Conv2d and m.padding_mode == "zeros" and m.dilation == (1, 1)
            and isinstance(m.padding, tuple) and all(k % 2 == 1 for k in m.kernel_size))


class _Branch:
    """One branch of a sum: an optional conv, then an optional BatchNorm, on input `src`."""

    def __init__(self, src: int, conv: nn.Conv2d | None, bn: nn.BatchNorm2d | None, steps: list[int]):
        self.src, self.conv, self.bn, self.steps = src, conv, bn, steps


def _trace(gm: GraphModule, steps: list[tuple], producer: dict[int, int], readers: dict[int, int], slot: int) -> _Branch:
    """The branch ending at `slot`: conv -> bn, bn, conv, or nothing (the identity)."""
    conv = bn = None
    used: list[int] = []
    k = producer.get(slot)
    if k is not None and steps[k][0] == _MOD and _usable_bn(_resolve(gm, steps[k][1])):
        bn = _resolve(gm, steps[k][1])
        used.append(k)
        slot = steps[k][2][0]
        k = producer.get(slot) if readers.get(slot) == 1 and slot != gm._out else None
    if k is not None and steps[k][0] == _MOD and _usable_conv(_resolve(gm, steps[k][1])):
        conv = _resolve(gm, steps[k][1])
        used.append(k)
        slot = steps[k][2][0]
    return _Branch(slot, conv, bn, used)


def _merge(branches: list[_Branch]) -> nn.Conv2d | None:
    """One conv equal to the sum of `branches` (eval mode), or None where none is exact."""
    convs = [b.conv for b in branches if b.conv is not None]
    if not convs:
        return None
    big = max(convs, key=lambda c: c.kernel_size[0] * c.kernel_size[1])
    kh, kw = big.kernel_size
    ph, pw = big.padding
    cin, cout, g = big.in_channels, big.out_channels, big.groups
    for c in convs:
        sh, sw = c.kernel_size
        if (c.in_channels, c.out_channels, c.groups, c.stride) != (cin, cout, g, big.stride):
            return None
        if sh > kh or sw > kw or ph - c.padding[0] != (kh - sh) // 2 or pw - c.padding[1] != (kw - sw) // 2:
            return None
    has_identity = any(b.conv is None for b in branches)
    if has_identity and (cin != cout or big.stride != (1, 1) or (ph, pw) != ((kh - 1) // 2, (kw - 1) // 2)):
        return None
    ref = big.weight
    kernel = torch.zeros(cout, cin // g, kh, kw, dtype=torch.float64, device=ref.device)
    bias = torch.zeros(cout, dtype=torch.float64, device=ref.device)
    for b in branches:
        if b.conv is not None:
            w = b.conv.weight.detach().double()
            sh, sw = b.conv.kernel_size
            w = nn.functional.pad(w, [(kw - sw) // 2] * 2 + [(kh - sh) // 2] * 2)
            c_bias = b.conv.bias.detach().double() if b.conv.bias is not None else torch.zeros_like(bias)
        else:  # the identity as a centred one-hot kernel (within each group)
            w = torch.zeros_like(kernel)
            idx = torch.arange(cout, device=ref.device)
            w[idx, idx % (cin // g), (kh - 1) // 2, (kw - 1) // 2] = 1.0
            c_bias = torch.zeros_like(bias)
        if b.bn is not None:
            if b.bn.num_features != cout:
                return None
            scale, shift = _bn_scale_shift(b.bn)
            w, c_bias = w * scale.reshape(-1, 1, 1, 1), c_bias * scale + shift
        kernel += w
        bias += c_bias
    merged = nn.Conv2d(cin, cout, (kh, kw), stride=big.stride, padding=(ph, pw), groups=g, bias=True,
                       device=ref.device, dtype=ref.dtype)
    merged.weight = nn.Parameter(kernel.to(ref.dtype))
    merged.bias = nn.Parameter(bias.to(ref.dtype))
    return merged


def _reparameterize_group(gm: GraphModule) -> int:
    steps = list(gm._steps)
    producer = {st[3]: k for k, st in enumerate(steps)}
    readers: dict[int, int] = {}
    for st in steps:
        for a in st[2]:
            readers[a] = readers.get(a, 0) + 1
    merged_count = 0
    drop: set[int] = set()
    for k, (kind, key, args, out, _) in enumerate(steps):
        if kind != _FN or (key is not operator.add and key is not add_all) or len(args) < 2:
            continue
        branches = [_trace(gm, steps, producer, readers, a) for a in args]
        srcs = {b.src for b in branches}
        if len(srcs) != 1 or len(set(args)) != len(args):
            continue
        # every value inside a branch (its output included) must be read by that branch alone
        private = all(readers.get(steps[s][3]) == 1 and steps[s][3] != gm._out for b in branches for s in b.steps)
        if not private:
            continue
        conv = _merge(branches)
        if conv is None:
            continue
        big = max((b for b in branches if b.conv is not None), key=lambda b: b.conv.kernel_size[0] * b.conv.kernel_size[1])
        name = next(steps[s][1] for s in big.steps if _resolve(gm, steps[s][1]) is big.conv)
        for b in branches:
            for s in b.steps:
                path = steps[s][1]
                delattr(_resolve(gm, path[:-1]), path[-1])
                drop.add(s)
        _resolve(gm, name[:-1]).add_module(name[-1], conv)
        steps[k] = (_MOD, name, (srcs.pop(),), out, ())
        merged_count += 1
    if merged_count:
        keep = [k for k in range(len(steps)) if k not in drop]
        set_steps(gm, [steps[k] for k in keep], [gm._where[k] for k in keep])
    return merged_count


def reparameterize(model: nn.Module) -> nn.Module:
    """A copy of an archdsl model, in eval mode, with every mergeable branch sum merged into one conv.

    `model.reparameterized` on the result counts the merged sums. Conv -> BatchNorm pairs
    outside such sums are left as they are; `fold_batchnorm` folds those.
    """
    if not isinstance(model, GraphModule):
        raise TypeError(f"reparameterize works on models built by archdsl.build, got {type(model).__name__}")
    out = copy.deepcopy(model).eval()
    total = 0
    for m in list(out.modules()):
        if isinstance(m, GraphModule):
            total += _reparameterize_group(m)
    out.reparameterized = total
    return out
