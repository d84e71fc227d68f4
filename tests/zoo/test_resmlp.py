"""ResMLP equals timm's resmlp_12_224 ... resmlp_big_24_224 (the claims in
archdsl/zoo_status.py, run by tests/zoo/test_fidelity.py); here: the paper's figures, the
layers written in `.arch` (one `Affine` class for the blocks and the head), the numeric
variant names and timm's layer-scale initialisation."""

from __future__ import annotations

import pytest
import timm

import archdsl
from archdsl.cli import main
from tests.conftest import zoo

RESMLP = zoo("resmlp.arch")


def test_issue_figure():
    assert archdsl.summary(RESMLP, "12")["params"] == 15_350_872


def test_s24_matches_paper():
    # ResMLP-S24: 30M params, 6.0 GFLOPs (VAN and Swin papers' comparison tables)
    s = archdsl.summary(RESMLP, "24")
    assert round(s["params"] / 1e6, 1) == 30.0
    assert abs(s["macs"] / 1e9 - 6.0) / 6.0 < 0.01


def test_variants_are_named_by_depth(capsys):
    assert archdsl.parse(RESMLP).variant_names == ["12", "24", "36", "big_24"]
    assert main(["compile", str(RESMLP), "-v", "36", "--json"]) == 0
    assert '"variant": "36"' in capsys.readouterr().out


def test_written_in_arch_alone():
    program = archdsl.parse(RESMLP)
    assert list(program.layers) == ["affine", "token_fc"] and len(program.source.splitlines()) < 60
    source = archdsl.to_source(RESMLP, "12")
    assert source.count("class Affine(nn.Module)") == 1
    assert "self.affine1 = Affine(in_channels)" in source and "self.head.affine = Affine(384)" in source
    assert "self.fc = nn.Linear(196, 196)" in source  # across the 14 x 14 patches
    assert "return self.fc(x.transpose(-2, -1)).transpose(-2, -1)" in source


@pytest.mark.parametrize("variant,name", [("12", "resmlp_12_224"), ("24", "resmlp_24_224"), ("36", "resmlp_36_224")])
def test_layer_scale_starts_as_timm(variant, name):
    ref = timm.create_model(name, pretrained=False).blocks[0]
    ours = archdsl.build(RESMLP, variant).stages[0].blocks[0]
    assert ours.gamma1.tolist() == ref.ls1.tolist() and ours.gamma2.tolist() == ref.ls2.tolist()
    assert ours.affine1.alpha.tolist() == ref.norm1.alpha.flatten().tolist()
