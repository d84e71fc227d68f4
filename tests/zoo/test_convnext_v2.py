"""ConvNeXt V2 equals timm's convnextv2_* (the claims in archdsl/zoo_status.py, run by
tests/zoo/test_fidelity.py); here: the GRN is a `layer` of the file, written in `.arch`
alone, and timm's 1x1-conv form of the small sizes (atto ... nano) loads as well as the
Linear form of tiny and up."""

from __future__ import annotations

import timm
import torch

import archdsl
from tests.conftest import assert_same_outputs, zoo
from tests.zoo.perturb import randomize_parameters

CONVNEXT_V2 = zoo("convnext_v2.arch")


def test_issue_figure():
    assert archdsl.summary(CONVNEXT_V2, "tiny")["params"] == 28_635_496


def test_written_in_arch_alone():
    program = archdsl.parse(CONVNEXT_V2)
    assert list(program.layers) == ["grn"] and len(program.source.splitlines()) < 60
    source = archdsl.to_source(CONVNEXT_V2, "tiny")
    grn = source[source.index("class Grn(nn.Module)"):source.index("class ConvnextV2Block")]
    assert "n = torch.linalg.vector_norm(x, dim=(2, 3), keepdim=True)" in grn
    assert "return x + self.gamma * (x * n) + self.beta" in grn
    assert "self.grn = Grn(4 * c)" in source


def test_block_has_grn_and_no_layer_scale():
    names = {n for n, _ in archdsl.build(CONVNEXT_V2, "atto").stages[1].blocks[0].named_parameters()}
    assert names == {f"{m}.{p}" for m in ("dwconv", "norm", "pwconv1", "pwconv2") for p in ("weight", "bias")} | {
        "grn.gamma", "grn.beta"}


def test_timm_conv_mlp_form_loads():
    """atto ... nano are timm's `conv_mlp=True` models (1x1 convs, channels-first GRN)."""
    torch.manual_seed(0)
    ref = timm.create_model("convnextv2_atto", pretrained=False)
    assert ref.stages[0].blocks[0].mlp.fc1.weight.dim() == 4
    randomize_parameters(ref)
    ours = archdsl.build(CONVNEXT_V2, "atto")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 64, 64))
