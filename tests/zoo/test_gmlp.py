"""gMLP equals timm's gmlp_ti16_224 / gmlp_s16_224 / gmlp_b16_224 (the claims in
archdsl/zoo_status.py, run by tests/zoo/test_fidelity.py); here: the spatial gating unit
is a `layer` of the file, it starts as timm's does, and its l x l weight follows the input
size."""

from __future__ import annotations

import timm
import torch

import archdsl
from tests.conftest import assert_same_outputs, zoo
from tests.zoo.perturb import randomize_parameters

GMLP = zoo("gmlp.arch")


def test_issue_figure():
    assert archdsl.summary(GMLP, "s")["params"] == 19_422_656


def test_written_in_arch_alone():
    program = archdsl.parse(GMLP)
    assert list(program.layers) == ["sgu"] and len(program.source.splitlines()) < 60
    source = archdsl.to_source(GMLP, "s")
    assert "return u * (self.weight @ v + self.bias)" in source
    assert "self.sgu = Sgu(6 * c)" in source


def test_gating_starts_as_timm():
    """Near-zero spatial weights and a unit bias: each block starts as a plain MLP."""
    torch.manual_seed(0)
    sgu = archdsl.build(GMLP, "ti").stages[0].blocks[0].sgu
    ref = timm.create_model("gmlp_ti16_224", pretrained=False).blocks[0].mlp_channels.gate
    assert 0.9e-6 < sgu.weight.std().item() < 1.1e-6 and 0.9e-6 < ref.proj.weight.std().item() < 1.1e-6
    assert sgu.bias.flatten().tolist() == ref.proj.bias.tolist() == [1.0] * 196
    assert sgu.norm.eps == ref.norm.eps == 1e-5  # the gate's LayerNorm; the blocks' are 1e-6


def test_spatial_weight_follows_the_input_size():
    torch.manual_seed(0)
    ref = timm.create_model("gmlp_ti16_224", pretrained=False, img_size=128)
    randomize_parameters(ref)
    ours = archdsl.build(GMLP, "ti", input_shape=(3, 128, 128))
    assert ours.stages[0].blocks[0].sgu.weight.shape == (64, 64)  # 8 x 8 patches
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 128, 128))
