"""Fuzzing `load_reference`: random pairings of (shrunk) zoo variants and references.

Each case draws a network and a reference: its own reference(s), which must load with
equal outputs, or a wrong one: another network's reference, its own with one activation
swapped or one norm's eps changed (the same tensors, another function), or ours built
with another depth or class count. A wrong pairing must be refused with a
`WeightMappingError` or, where it happens to compute the same function, load with equal
outputs; any other exception, or a load whose outputs differ on a fresh input, fails.

The default suite runs `FAST_SEEDS` over the small networks; `-m slow` runs `SLOW_SEEDS`
over all of them. `python -m tests.test_weights_fuzz N` runs N seeds and prints the counts.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import pytest
import timm
import torch
import torchvision
from timm.models.mlp_mixer import MlpMixer
from torch import nn

import archdsl
from archdsl.weights import WeightMappingError
from tests.conftest import randomize_batchnorm, zoo
from tests.test_weights import POOLFORMER, POOLMETA, PoolMeta, poolformer
from tests.test_weights_layers import CONVNEXT_V2, RESMLP, convnext_v2, resmlp
from tests.zoo.perturb import randomize_parameters


def _tv_swin(depths):
    from torchvision.models.swin_transformer import SwinTransformer

    return SwinTransformer(patch_size=[4, 4], embed_dim=96, depths=depths, num_heads=[3, 6, 12, 24], window_size=[7, 7])


def _tv_resnet50(layers):
    from torchvision.models.resnet import Bottleneck, ResNet

    return ResNet(Bottleneck, layers)


@dataclass
class Net:
    file: str  # a zoo file, or .arch text
    variant: str | None
    overrides: dict
    input_shape: tuple
    refs: dict[str, Callable[[], nn.Module]]  # references computing this network's function
    fast: bool = False
    other: dict = field(default_factory=dict)  # overrides giving another network (depth, classes)

    def build(self, **more):
        src = zoo(self.file) if self.file.endswith(".arch") else self.file
        return archdsl.build(src, self.variant, input_shape=self.input_shape, **{**self.overrides, **more})


NETS: dict[str, Net] = {
    "resnet18": Net("resnet.arch", "resnet18", {}, (3, 64, 64),
                    {"tv:resnet18": torchvision.models.resnet18, "timm:resnet18": lambda: timm.create_model("resnet18")},
                    fast=True, other={"depths": [1, 2, 2, 2]}),
    "resnet50/1111": Net("resnet.arch", "resnet50", {"depths": [1, 1, 1, 1]}, (3, 64, 64),
                         {"tv:resnet50(1,1,1,1)": lambda: _tv_resnet50([1, 1, 1, 1]),
                          "timm:resnet50(1,1,1,1)": lambda: timm.create_model("resnet50", layers=(1, 1, 1, 1))},
                         fast=True, other={"depths": [1, 1, 2, 1]}),
    "convnext/1111": Net("convnext.arch", "tiny", {"depths": [1, 1, 1, 1]}, (3, 64, 64),
                         {"timm:convnext_tiny(1,1,1,1)": lambda: timm.create_model("convnext_tiny", depths=(1, 1, 1, 1))},
                         fast=True, other={"classes": 10}),
    "poolmeta": Net(POOLMETA, None, {}, (3, 32, 32), {"timm MetaBlock2d": PoolMeta}, fast=True, other={"dims": [16, 48]}),
    "poolformer": Net(POOLFORMER, None, {}, (3, 64, 64), {"timm MetaFormer (poolformer)": poolformer}, fast=True,
                      other={"depths": [1, 1, 2, 1]}),
    "convnext_v2/1111": Net(CONVNEXT_V2, None, {}, (3, 32, 32),  # a `layer` with `param`s (GRN's gamma, beta)
                            {"timm ConvNeXt (V2, GRN)": convnext_v2,
                             "timm ConvNeXt (V2, GRN, conv MLP)": lambda: convnext_v2(conv_mlp=True)},
                            fast=True, other={"dims": [16, 32, 48, 80]}),
    "resmlp/2": Net(RESMLP, None, {}, (3, 32, 32), {"timm MlpMixer (ResMLP)": resmlp}, fast=True,  # Affine's alpha, beta
                    other={"depth": 3}),
    "squeezenet": Net("squeezenet.arch", "v1_1", {}, (3, 64, 64), {"tv:squeezenet1_1": torchvision.models.squeezenet1_1},
                      fast=True, other={"classes": 100}),
    "vit/2": Net("vit.arch", "tiny", {"depth": 2}, (3, 224, 224),
                 {"timm:vit_tiny_patch16_224(depth=2)": lambda: timm.create_model("vit_tiny_patch16_224", depth=2),
                  "timm:deit_tiny_patch16_224(depth=2)": lambda: timm.create_model("deit_tiny_patch16_224", depth=2)},
                 other={"depth": 3}),
    "deit_distilled/2": Net("deit.arch", "tiny_distilled", {"depth": 2}, (3, 224, 224),
                            {"timm:deit_tiny_distilled_patch16_224(depth=2)":
                             lambda: timm.create_model("deit_tiny_distilled_patch16_224", depth=2)}, other={"depth": 1}),
    "swin/2222": Net("swin.arch", "tiny", {"depths": [2, 2, 2, 2]}, (3, 224, 224),
                     {"tv:swin(2,2,2,2)": lambda: _tv_swin([2, 2, 2, 2]),
                      "timm:swin_tiny_patch4_window7_224(2,2,2,2)":
                      lambda: timm.create_model("swin_tiny_patch4_window7_224", depths=(2, 2, 2, 2))},
                     other={"depths": [2, 2, 4, 2]}),
    "mobilenet_v3_small": Net("mobilenet_v3.arch", "small", {}, (3, 64, 64),
                              {"tv:mobilenet_v3_small": torchvision.models.mobilenet_v3_small}, other={"classes": 10}),
    "efficientnet_b0": Net("efficientnet.arch", "b0", {}, (3, 64, 64),
                           {"tv:efficientnet_b0": torchvision.models.efficientnet_b0,
                            "timm:efficientnet_b0": lambda: timm.create_model("efficientnet_b0")}, other={"classes": 10}),
    "cait/2": Net("cait.arch", "xxs24", {"depth": 2}, (3, 224, 224),
                  {"timm:cait_xxs24_224(depth=2)": lambda: timm.create_model("cait_xxs24_224", depth=2)}, other={"depth": 3}),
    "mixer/2": Net("mlp_mixer.arch", "s16", {"depth": 2}, (3, 224, 224),
                   {"timm MlpMixer(s16, 2 blocks)": lambda: MlpMixer(patch_size=16, num_blocks=2, embed_dim=512)},
                   other={"depth": 3}),
    "regnetx_400mf": Net("regnet.arch", "x_400mf", {}, (3, 64, 64), {"timm:regnetx_004": lambda: timm.create_model("regnetx_004")},
                         other={"classes": 10}),
    "pvt_v2_b0": Net("pvt_v2.arch", "b0", {}, (3, 224, 224), {"timm:pvt_v2_b0": lambda: timm.create_model("pvt_v2_b0")},
                     other={"depths": [2, 2, 2, 1]}),
    "resnetv2/1111": Net("resnet_v2.arch", "resnetv2_50", {"depths": [1, 1, 1, 1]}, (3, 64, 64),
                         {"timm:resnetv2_50(1,1,1,1)": lambda: timm.create_model("resnetv2_50", layers=(1, 1, 1, 1))},
                         other={"depths": [1, 1, 1, 2]}),
    "googlenet": Net("googlenet.arch", "googlenet", {}, (3, 64, 64),
                     {"tv:googlenet": lambda: torchvision.models.googlenet(aux_logits=False, init_weights=False)},
                     other={"classes": 10}),
    "shufflenet_v2": Net("shufflenet_v2.arch", "x0_5", {}, (3, 64, 64),
                         {"tv:shufflenet_v2_x0_5": torchvision.models.shufflenet_v2_x0_5}, other={"classes": 10}),
    "xcit/2": Net("xcit.arch", "tiny12", {"depth": 2}, (3, 224, 224),
                  {"timm:xcit_tiny_12_p16_224(depth=2)": lambda: timm.create_model("xcit_tiny_12_p16_224", depth=2)},
                  other={"depth": 3}),
}
FAST = [k for k, n in NETS.items() if n.fast]
ACTIVATIONS = {"ReLU", "GELU", "SiLU", "Swish", "Hardswish", "HardSwish", "ReLU6", "GELUTanh"}  # torch's and timm's own
NORMS = (nn.BatchNorm2d, nn.BatchNorm1d, nn.LayerNorm, nn.GroupNorm)


def _mutate(ref: nn.Module, what: str, rng: random.Random) -> str:
    """Change the reference's function but not its tensors; returns what changed ("" if nothing could)."""
    mods = [(n, m) for n, m in ref.named_modules() if n]
    if what == "activation":
        acts = [(n, m) for n, m in mods if type(m).__name__ in ACTIVATIONS]
        if not acts:
            return ""
        name, act = rng.choice(acts)
        new = rng.choice([a for a in (nn.GELU, nn.SiLU, nn.Tanh) if a.__name__ != type(act).__name__])()
        parent, _, leaf = name.rpartition(".")
        setattr(ref.get_submodule(parent) if parent else ref, leaf, new)
        return f"{name}: {type(act).__name__} -> {type(new).__name__}"
    norms = [(n, m) for n, m in mods if isinstance(m, NORMS)]
    if not norms:
        return ""
    name, norm = rng.choice(norms)
    norm.eps = 0.5
    return f"{name}.eps = 0.5"


def make_case(seed: int, pool: list[str]):
    """(description, our model, reference, whether the pairing is known to be right)."""
    rng = random.Random(seed)
    key = rng.choice(pool)
    net = NETS[key]
    kind = rng.choice(["own", "own", "wrong", "activation", "eps", "ours-other"])
    torch.manual_seed(seed)
    if kind == "wrong":
        other = rng.choice([k for k in NETS if k != key])
        ref_name, make = rng.choice(sorted(NETS[other].refs.items()))
    else:
        ref_name, make = rng.choice(sorted(net.refs.items()))
    ref = make().eval()
    randomize_parameters(ref, seed=seed)
    randomize_batchnorm(ref, seed=seed)
    what = ""
    if kind in ("activation", "eps"):
        what = _mutate(ref, kind, rng)
    ours = net.build(**(net.other if kind == "ours-other" else {}))
    right = kind == "own" or (kind in ("activation", "eps") and not what)
    detail = {"ours-other": f"ours with {net.other}", "wrong": "", "own": ""}.get(kind, what or "nothing to change: right")
    return f"seed {seed}: {key} <- {ref_name} [{kind}{': ' + detail if detail else ''}]", ours, ref, right, net.input_shape


def _equal(ours: nn.Module, ref: nn.Module, shape) -> float:
    """Float64 outputs on an input the loader never saw."""
    x = torch.randn(2, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(12345))
    with torch.no_grad():
        a, b = ours.double().eval()(x), ref.double().eval()(x)
    if a.shape != b.shape:
        return float("inf")
    return ((a - b).abs().max() / b.abs().max()).item()


def run_case(seed: int, pool: list[str]) -> tuple[str, str]:
    """(the case, 'loaded' (equal outputs) or 'refused ...'); AssertionError on a wrong outcome."""
    desc, ours, ref, right, shape = make_case(seed, pool)
    try:
        archdsl.load_reference(ours, ref)
    except WeightMappingError as e:
        assert not right, f"{desc}: a right pairing was refused: {e}"
        assert str(e).strip(), desc
        return desc, "refused by " + ("the verification" if "refused:" in str(e) else "the pairing")
    err = _equal(ours, ref, shape)
    assert err < 1e-6, f"{desc}: loaded, but the outputs differ on a fresh input (relative {err:.3g})"
    return desc, "loaded" + (" (a right pairing)" if right else " (a wrong pairing computing the same function)")


FAST_SEEDS = range(6)
SLOW_SEEDS = range(6, 66)


@pytest.mark.parametrize("seed", FAST_SEEDS)
def test_fuzz_small_networks(seed):
    run_case(seed, FAST)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_fuzz_all_networks(seed):
    run_case(seed, list(NETS))


def test_every_own_reference_loads():
    """The fuzz's premise: each fast network's own references compute its function."""
    for key in FAST:
        for make in NETS[key].refs.values():
            torch.manual_seed(0)
            ref = make().eval()
            randomize_parameters(ref)
            randomize_batchnorm(ref)
            ours = NETS[key].build()
            archdsl.load_reference(ours, ref)
            assert _equal(ours, ref, NETS[key].input_shape) < 1e-6, key


if __name__ == "__main__":  # python -m tests.test_weights_fuzz [N] [fast]: outcome counts
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    pool = FAST if "fast" in sys.argv[2:] else list(NETS)
    counts: Counter = Counter()
    for s in range(n):
        try:
            desc, outcome = run_case(s, pool)
        except AssertionError as e:
            desc, outcome = f"seed {s}", f"FAILED: {e}"
        counts[outcome.split(":")[0]] += 1
        print(desc, "->", outcome, flush=True)
    print(dict(counts))
