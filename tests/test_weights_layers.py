"""`load_reference` into networks with `layer` definitions (layers written in `.arch`).

A `param` line's name is the author's (`gamma`, `beta`, `alpha`): it says nothing of the
tensor's role, so the pairing reads the role from the tensor's use in the traced forward
(added to an activation, or multiplying one) and lets the data flow and the verification
decide. The references are timm's own modules: ConvNeXt V2's GlobalResponseNorm
(`weight`, `bias`, applied as `torch.addcmul(bias, weight, x * n)`), ResMLP's Affine
(`alpha`, `beta`) and layer scales `ls1`/`ls2`, gMLP's spatial gating unit, ViT attention.
"""

from __future__ import annotations

from functools import partial

import pytest
import torch
from timm.models.convnext import ConvNeXt
from timm.models.mlp_mixer import Affine, GatedMlp, MlpMixer, ResBlock, SpatialGatingBlock
from timm.models.vision_transformer import VisionTransformer

import archdsl
from archdsl.backends.load import load_source, network_class_name
from archdsl.weights import WeightMappingError, load_reference
from tests.conftest import assert_same_outputs
from tests.test_layer_defs import GRN, MHSA, SGU
from tests.zoo.perturb import randomize_parameters

CONVNEXT_V2 = f"""\
arch convnext_v2(dims=[16, 32, 48, 64], depths=[1, 1, 1, 1], classes=10)
input 3x32x32
default ln(eps=1e-6)

{GRN}
stem  conv4/4(dims[0]) ln
down  ln conv2/2
stage dw7 ln pw(4*c) gelu grn pw(c) x(depths)
head  gap ln fc(classes)
"""


def convnext_v2(conv_mlp: bool = False, dims=(16, 32, 48, 64), depths=(1, 1, 1, 1)):
    """timm's ConvNeXt in ConvNeXt V2's configuration (GRN in the MLP, no layer scale), shrunk."""
    return ConvNeXt(depths=depths, dims=dims, num_classes=10, use_grn=True, ls_init_value=None, conv_mlp=conv_mlp)


RESMLP = """\
arch resmlp(dim=32, depth=2, classes=10, layer_scale=1e-4)
input 3x32x32
default residual(scale=layer_scale)

layer affine:  # Aff(x) = alpha * x + beta, per channel
    alpha = param(c, init=1)
    beta = param(c)
    alpha * x + beta

layer token_fc:  # a linear across the patches, shared by the channels
    transpose(fc(transpose(x), l))

block resmlp_block:
    residual: affine token_fc
    residual: affine mlp4

stem  patch_embed(dim, 4)
stage resmlp_block x(depth)
head  affine gap fc(classes)
"""


def resmlp(depth: int = 2):
    """timm's ResMLP (MlpMixer with ResBlock and Affine), shrunk to 32x32 inputs."""
    return MlpMixer(num_classes=10, img_size=32, patch_size=4, num_blocks=depth, embed_dim=32, mlp_ratio=4,
                    block_layer=partial(ResBlock, init_values=1e-4), norm_layer=Affine)


def _random(ref: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    randomize_parameters(ref, seed=seed)
    return ref.eval()


@pytest.mark.parametrize("conv_mlp", [False, True], ids=["linear-mlp", "conv-mlp"])
def test_grn_params_pair_with_timm_by_use(conv_mlp):
    ref = _random(convnext_v2(conv_mlp))
    ours = archdsl.build(CONVNEXT_V2)
    mapping = load_reference(ours, ref)
    for i in range(4):
        assert mapping[f"stages.{i}.blocks.0.grn.gamma"] == f"stages.{i}.blocks.0.mlp.grn.weight"  # multiplies x * n
        assert mapping[f"stages.{i}.blocks.0.grn.beta"] == f"stages.{i}.blocks.0.mlp.grn.bias"  # is added
    assert mapping.report.error < 1e-12
    assert torch.equal(ours.stages[2].blocks[0].grn.gamma.flatten(), ref.stages[2].blocks[0].mlp.grn.weight)
    assert_same_outputs(ours, ref, (3, 32, 32), rtol=1e-12)


def test_the_names_play_no_part_the_use_does():
    # the same layer with its two tensors' names exchanged: `beta` now multiplies
    text = CONVNEXT_V2.replace("x + gamma * (x * n) + beta", "x + beta * (x * n) + gamma")
    ref = _random(convnext_v2())
    ours = archdsl.build(text)
    mapping = load_reference(ours, ref)
    assert mapping["stages.1.blocks.0.grn.beta"] == "stages.1.blocks.0.mlp.grn.weight"
    assert mapping["stages.1.blocks.0.grn.gamma"] == "stages.1.blocks.0.mlp.grn.bias"
    assert_same_outputs(ours, ref, (3, 32, 32), rtol=1e-12)


def test_another_function_is_refused_at_the_layer():
    text = CONVNEXT_V2.replace('(mean(n, "c") + eps)', '(mean(n, "c") + 1e-3)')  # another epsilon
    ours = archdsl.build(text)
    before = ours.stages[0].blocks[0].grn.gamma.clone()
    with pytest.raises(WeightMappingError, match=r"refused: .* the first layer that differs is our `stages\.0\.blocks\.0\.grn` "
                                                 r"\(the reference's `stages\.0\.blocks\.0\.mlp\.grn`"):
        load_reference(ours, _random(convnext_v2()))
    assert torch.equal(ours.stages[0].blocks[0].grn.gamma, before)


def test_a_param_used_otherwise_has_no_partner():
    # `beta * x`: both tensors multiply, and the reference has no second multiplying tensor there
    text = CONVNEXT_V2.replace("x + gamma * (x * n) + beta", "x + gamma * (x * n) + beta * x")
    with pytest.raises(WeightMappingError, match=r"no reference tensor for our stages\.0\.blocks\.0\.grn\.beta "
                                                 r"\(param \(multiplying\), shape 64x1x1\) fed by"):
        load_reference(archdsl.build(text), _random(convnext_v2()))


def test_without_the_ir_the_names_decide():
    # a class from `archdsl compile -o` imported on its own has no `arch_graph`: `gamma` is
    # then read as a layer scale, which the reference does not have, and loading says so
    source = archdsl.to_source(CONVNEXT_V2)
    model = getattr(load_source(source, "convnext_v2"), network_class_name(source))()
    with pytest.raises(WeightMappingError, match=r"no reference tensor for our stages\.0\.blocks\.0\.grn\.gamma \(scale, "
                                                 r"shape 64x1x1\): the reference has no unpaired `scale` tensor left"):
        load_reference(model, _random(convnext_v2()), input_shape=(3, 32, 32))


def test_resmlp_affine_and_layer_scales():
    ref = _random(resmlp())
    ours = archdsl.build(RESMLP)
    mapping = load_reference(ours, ref)
    assert mapping["stages.0.blocks.1.affine1.alpha"] == "blocks.1.norm1.alpha"  # addcmul(beta, alpha, x)
    assert mapping["stages.0.blocks.1.affine1.beta"] == "blocks.1.norm1.beta"
    assert mapping["stages.0.blocks.1.gamma2"] == "blocks.1.ls2"  # `ls2`: a layer scale by its name
    assert mapping["head.affine.alpha"] == "norm.alpha"
    assert_same_outputs(ours, ref, (3, 32, 32), rtol=1e-12)


GMLP = f"""\
arch gmlp(dim=32, depth=2, classes=10)
input 3x32x32

{SGU}
block gmlp:
    residual: ln(eps=1e-6) fc(6*dim) gelu sgu fc(dim)

stem  patch_embed(dim, 4)
stage gmlp x(depth)
head  ln(eps=1e-6) gap fc(classes)
"""

VIT = f"""\
arch vit(dim=32, depth=2, heads=4, classes=10)
input 3x32x32
default ln(eps=1e-6)

{MHSA}
block encoder(heads):
    residual: ln attn(heads)
    residual: ln mlp4

stem  patch_embed(dim, 4) cls_token pos_embed
stage encoder(heads) x(depth)
head  ln cls fc(classes)
"""


@pytest.mark.parametrize("text, make, pair", [
    (GMLP, lambda: MlpMixer(img_size=32, patch_size=4, num_blocks=2, embed_dim=32, mlp_ratio=6, num_classes=10,
                            block_layer=SpatialGatingBlock, mlp_layer=GatedMlp),
     ("stages.0.blocks.1.sgu.fc.weight", "blocks.1.mlp_channels.gate.proj.weight")),
    (VIT, lambda: VisionTransformer(img_size=32, patch_size=4, embed_dim=32, depth=2, num_heads=4, num_classes=10),
     ("stages.0.blocks.1.attn.fc1.weight", "blocks.1.attn.qkv.weight")),
], ids=["gmlp-sgu", "vit-attention"])
def test_layers_of_builtin_tokens_load(text, make, pair):
    ref = _random(make())
    ours = archdsl.build(text)
    mapping = load_reference(ours, ref)
    assert mapping[pair[0]] == pair[1]
    assert_same_outputs(ours, ref, (3, 32, 32), rtol=1e-12)
