"""`load_reference`: pairing by role, shape and data flow (never registration order), the
verification forward, strict mode, and refusals that leave the model as it was."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import archdsl
from archdsl.weights import WeightMappingError, load_reference, map_state_dict
from archdsl.weights.roles import role
from tests.conftest import assert_same_outputs, randomize_batchnorm
from tests.zoo.perturb import randomize_parameters


class MergeNormFirst(nn.Module):  # data-flow order: norm, then reduction (and so registered)
    def __init__(self):
        super().__init__()
        self.norm = nn.LayerNorm(8)
        self.reduction = nn.Linear(8, 4, bias=False)

    def forward(self, x):
        return self.reduction(self.norm(x))


class MergeReductionFirst(MergeNormFirst):  # torchvision PatchMerging: registers reduction first
    def __init__(self):
        nn.Module.__init__(self)
        self.reduction = nn.Linear(8, 4, bias=False)
        self.norm = nn.LayerNorm(8)


def _perturbed(m: nn.Module, seed: int = 0) -> nn.Module:
    randomize_parameters(m, seed=seed)
    randomize_batchnorm(m, seed=seed)
    return m.eval()


def test_registration_order_plays_no_part():
    ref, ours = _perturbed(MergeReductionFirst()), MergeNormFirst()
    mapping = load_reference(ours, ref, input_shape=(3, 8))
    assert dict(mapping) == {"norm.weight": "norm.weight", "norm.bias": "norm.bias", "reduction.weight": "reduction.weight"}
    assert torch.equal(ours.norm.weight, ref.norm.weight)
    assert mapping.report.error == 0.0


class Bottleneck(nn.Module):
    """A 1x1 bottleneck whose projection shortcut has the shape of its last conv."""

    def __init__(self, shortcut_first: bool):
        super().__init__()
        convs = [("conv1", nn.Conv2d(4, 4, 1, bias=False)), ("conv3", nn.Conv2d(4, 16, 1, bias=False))]
        short = ("shortcut", nn.Sequential(nn.Conv2d(4, 16, 1, bias=False)))
        for name, mod in ([short] + convs if shortcut_first else convs + [short]):
            self.add_module(name, mod)
        self.shortcut_first = shortcut_first

    def forward(self, x):
        if self.shortcut_first:  # timm ByobNet runs the shortcut first
            s = self.shortcut(x)
            return self.conv3(torch.relu(self.conv1(x))) + s
        return self.conv3(torch.relu(self.conv1(x))) + self.shortcut(x)


def test_equal_shapes_paired_by_their_inputs():
    ref, ours = _perturbed(Bottleneck(True)), Bottleneck(False)
    mapping = load_reference(ours, ref, input_shape=(4, 5, 5))
    assert mapping["shortcut.0.weight"] == "shortcut.0.weight"  # fed by the block input
    assert mapping["conv3.weight"] == "conv3.weight"  # fed by conv1
    assert torch.equal(ours.conv3.weight, ref.conv3.weight)


class TwoHeads(nn.Module):
    """Two linear layers of one input, multiplied after a ReLU on one of them: a product has
    no argument order, so nothing in the structure tells the two apart (a concatenation
    would: its parts' order is part of the function)."""

    def __init__(self, names=("a", "b"), run=(0, 1)):
        super().__init__()
        self.names, self.run = names, run
        for n in names:
            self.add_module(n, nn.Linear(6, 6))

    def forward(self, x):
        out = {k: getattr(self, self.names[k])(x) for k in self.run}  # `run`: the order they are computed in
        return out[0] * torch.relu(out[1])


def test_an_undecidable_pairing_is_an_error_naming_both_candidates():
    with pytest.raises(WeightMappingError, match=r"ambiguous: our p\.weight .* could be the reference's a\.weight or b\.weight"):
        load_reference(TwoHeads(("p", "q")), _perturbed(TwoHeads()), input_shape=(6,))


def test_roles_never_mix():
    assert [role(k) for k in ("blocks.0.norm2.running_var", "ls1.gamma", "blocks.0.gamma_1", "layer_scale1.scale",
                              "cls_token4", "encoder.pos_embedding", "attn.relative_position_bias_table")] == \
        ["running_var", "scale", "scale", "scale", "token", "position", "relative_position"]
    assert role("blocks.0.lambda_") == "other:lambda_"  # an unknown name pairs only with the same name


POOLMETA = """
arch poolmeta(dims=[16,32], classes=10, layer_scale=1e-5)
input 3x32x32
default residual(scale=layer_scale)
stem  conv3/2(dims[0] // 2, bias=true) bn relu conv3/2(dims[0], bias=true) bn relu
down  conv3/2(bias=true) bn
stage poolmix x[1,1]
head  gap fc(classes)

block poolmix(c):  # timm EfficientFormer's MetaBlock2d: pool mixer, BN inside the MLP, layer scale
    residual:
        add: [avgpool3/1(p=1, count_pad=false)] [scale(-1)]
    residual: conv1(4*c, bias=true) bn gelu conv1(c, bias=true) bn
"""


class PoolMeta(nn.Module):
    """timm's own EfficientFormer blocks (MetaBlock2d), which register each branch's layer
    scale after the branch and hold BatchNorms inside the MLP; ours registers the block's
    layer scales first. The old positional loader paired a layer scale with an MLP bias here
    and the model output NaN."""

    def __init__(self, dims=(16, 32), classes=10):
        from timm.models.efficientformer import EfficientFormerStage, Stem4

        super().__init__()
        self.stem = Stem4(3, dims[0])
        self.stages = nn.Sequential(*[EfficientFormerStage(dims[max(i - 1, 0)], d, 1, downsample=i > 0, drop_path=[0.0], num_vit=0)
                                      for i, d in enumerate(dims)])
        self.head = nn.Linear(dims[-1], classes)

    def forward(self, x):
        return self.head(self.stages(self.stem(x)).mean((2, 3)))


def test_layer_scale_after_each_branch_with_batchnorms_inside(tmp_arch):
    torch.manual_seed(0)
    ref = _perturbed(PoolMeta())
    ours = archdsl.build(tmp_arch(POOLMETA))
    assert list(ours.state_dict())[14:16] == ["stages.0.blocks.0.gamma1", "stages.0.blocks.0.gamma2"]  # registered first
    mapping = load_reference(ours, ref)
    assert mapping["stages.0.blocks.0.gamma1"] == "stages.0.blocks.0.ls1.gamma"
    assert mapping["stages.0.blocks.0.gamma2"] == "stages.0.blocks.0.ls2.gamma"
    assert all(role(o) == role(r) for o, r in mapping.items())
    assert torch.isfinite(ours.eval()(torch.randn(2, 3, 32, 32))).all()
    assert_same_outputs(ours, ref, (3, 32, 32))


POOLFORMER = """
arch poolformer(dims=[16,32,48,64], classes=10, layer_scale=1e-5)
input 3x64x64
default residual(scale=layer_scale)
stem  conv7/4(dims[0], p=2)
down  conv3/2
stage poolmix x[1,1,1,1]
head  gap ln(eps=1e-6) fc(classes)

block poolmix(c):  # PoolFormer (Yu et al., 2022): GroupNorm, pool - x, layer scale; GroupNorm, 1x1 MLP, layer scale
    residual:
        gn(1)
        add: [avgpool3/1(p=1, count_pad=false)] [scale(-1)]
    residual: gn(1) conv1(4*c) gelu conv1(c)
"""


def poolformer():
    """timm's MetaFormer in poolformer_s12's configuration, shrunk: it registers each layer
    scale after its branch (`layer_scale1.scale`), ours first (`gamma1`, `gamma2`). The old
    positional loader put its norm1 weight and bias into our gammas, and the outputs were 3%
    off without an error."""
    from timm.models.metaformer import GroupNorm1, MetaFormer

    return MetaFormer(depths=(1, 1, 1, 1), dims=(16, 32, 48, 64), num_classes=10, downsample_norm=None, mlp_act=nn.GELU,
                      mlp_bias=True, norm_layers=GroupNorm1, layer_scale_init_values=1e-5, res_scale_init_values=None,
                      use_mlp_head=False)


def test_timm_poolformer(tmp_arch):
    torch.manual_seed(0)
    ref = _perturbed(poolformer())
    ours = archdsl.build(tmp_arch(POOLFORMER))
    mapping = load_reference(ours, ref)
    assert mapping["stages.1.blocks.0.gamma1"] == "stages.1.blocks.0.layer_scale1.scale"
    assert mapping["stages.1.blocks.0.norm1.weight"] == "stages.1.blocks.0.norm1.weight"
    assert_same_outputs(ours, ref, (3, 64, 64))


def test_swin_from_timm():
    # timm's swin_tiny_patch4_window7_224 computes torchvision swin_t's function (the zoo's
    # reference) though it names, nests and registers its layers otherwise (patch merging
    # at the start of a stage, `layers.N.downsample`)
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    ref = _perturbed(timm.create_model("swin_tiny_patch4_window7_224"))
    ours = archdsl.build("zoo/swin.arch", "tiny")
    mapping = load_reference(ours, ref)
    assert mapping["stages.1.down.norm.weight"] == "layers.1.downsample.norm.weight"
    assert_same_outputs(ours, ref, (3, 224, 224))


def _resnet18(seed=0):
    torch.manual_seed(seed)
    return _perturbed(torchvision.models.resnet18(), seed)


def test_strict_fails_on_any_unmatched_tensor():
    ref = _resnet18()
    ours = archdsl.build("zoo/resnet.arch", "resnet18", classes=10)
    before = ours.stem.conv.weight.clone()
    with pytest.raises(WeightMappingError, match=r"no reference tensor for our head\.fc\.weight \(weight, shape 10x512\)"):
        load_reference(ours, ref)
    assert torch.equal(ours.stem.conv.weight, before)  # nothing copied


def test_non_strict_loads_the_rest_and_verifies_it():
    ref = _resnet18()
    ours = archdsl.build("zoo/resnet.arch", "resnet18", classes=10)
    head = ours.head.fc.weight.clone()
    mapping = load_reference(ours, ref, strict=False)
    assert mapping.unmatched_ours == ["head.fc.weight", "head.fc.bias"]
    assert mapping.unmatched_reference == ["fc.weight", "fc.bias"]
    assert torch.equal(ours.head.fc.weight, head)  # a new head keeps its initialisation
    assert torch.equal(ours.stages[3].blocks[1].conv2.weight, ref.layer4[1].conv2.weight)
    assert mapping.report.error is None and mapping.report.modules_compared > 50


def test_verify_names_the_first_diverging_layer_and_restores_the_model():
    ref = _resnet18()
    ref.layer2[1].relu = nn.GELU()  # the same tensors, another function from layer2.1 on
    ours = archdsl.build("zoo/resnet.arch", "resnet18")
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    with pytest.raises(WeightMappingError) as e:
        load_reference(ours, ref)
    msg = str(e.value)
    assert "refused: the loaded model does not compute the reference's function" in msg
    assert "first layer that differs is our `stages.1.blocks.1.conv2` (the reference's `layer2.1.conv2`" in msg
    assert all(torch.equal(v, before[k]) for k, v in ours.state_dict().items())
    load_reference(ours, ref, verify=False)  # the pairing itself is fine: it only computes otherwise
    assert torch.equal(ours.stages[1].blocks[1].conv2.weight, ref.layer2[1].conv2.weight)


def test_map_state_dict_copies_nothing():
    ref = _resnet18()
    ours = archdsl.build("zoo/resnet.arch", "resnet18")
    before = ours.stem.conv.weight.clone()
    mapping = map_state_dict(ref, ours)
    assert mapping["stem.conv.weight"] == "conv1.weight" and len(mapping) == 102
    assert torch.equal(ours.stem.conv.weight, before)


def test_a_state_dict_of_the_zoo_reference():
    # a bare state dict has no data flow: the zoo status table names its model (tv:resnet18)
    ref = _resnet18()
    ours = archdsl.build("zoo/resnet.arch", "resnet18")
    load_reference(ours, ref.state_dict())
    assert_same_outputs(ours, ref, (3, 64, 64))
    with pytest.raises(WeightMappingError, match="a state dict alone has no data flow"):
        load_reference(MergeNormFirst(), MergeNormFirst().state_dict())


def test_a_ties_rule_pairs_in_forward_order(monkeypatch):
    from archdsl import reference_rules

    rule = reference_rules.Rule(("tests.test_weights.TwoHeads",), why="both run a, then b", ties="order")
    monkeypatch.setattr(reference_rules, "RULES", [rule])
    ref = _perturbed(TwoHeads())
    ours = TwoHeads(("p", "q"))
    mapping = load_reference(ours, ref, input_shape=(6,))
    assert mapping["p.weight"] == "a.weight" and mapping["q.weight"] == "b.weight"
    assert mapping.report.error == 0.0
    # where the two run them in different orders, the rule pairs them wrongly: the check refuses
    with pytest.raises(WeightMappingError, match="refused: .* every matched layer agrees, the outputs do not"):
        load_reference(TwoHeads(("p", "q"), run=(1, 0)), ref, input_shape=(6,))


class Cached(nn.Module):
    """Computes a tensor on its first call and keeps it (as some timm layers keep position tables)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.table = None

    def forward(self, x):
        if self.table is None:
            self.table = torch.arange(4.0)
        return self.fc(x) * self.table


def test_the_shape_only_trace_leaves_no_fake_tensor_behind():
    # the fake trace fills `table` with a fake tensor: the model gets its None back, and the
    # trace runs for real (whose table is taken back too: the models are left as they were)
    ours, ref = Cached(), _perturbed(Cached())
    mapping = load_reference(ours, ref, input_shape=(4,))
    assert ours.table is None and ref.table is None
    assert mapping.report.error == 0.0
    x = torch.randn(3, 4)
    assert torch.equal(ours(x), ref(x)) and type(ours.table) is torch.Tensor
    assert torch.equal(ours.table, torch.arange(4.0))


class DictCached(nn.Module):
    """Keeps a tensor in a dict it fills in place, per device (as timm's EfficientFormer and
    LeViT keep their attention biases in `attention_bias_cache` in eval mode)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.cache = {}

    def forward(self, x):
        if str(x.device) not in self.cache:
            self.cache[str(x.device)] = self.fc.bias * 2
        return self.fc(x) * self.cache[str(x.device)]


def test_a_cache_filled_in_place_keeps_no_fake_tensor():
    # a cache kept from a trace would hold a fake tensor, or ours computed from the weights
    # before the copy (the verification then refuses: outputs differ): both are emptied
    ours, ref = DictCached(), _perturbed(DictCached())
    mapping = load_reference(ours, ref, input_shape=(4,))
    assert ours.cache == {} and ref.cache == {}
    assert mapping.report.error == 0.0
    x = torch.randn(3, 4)
    assert torch.equal(ours(x), ref(x))
    assert torch.equal(ref.cache["cpu"], ref.fc.bias * 2)

