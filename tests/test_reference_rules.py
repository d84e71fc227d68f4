"""archdsl/reference_rules.py: rules keyed by the reference (never by `arch NAME`), each with
an effect a test shows."""

from __future__ import annotations

import fnmatch

import pytest
import timm
import torch

import archdsl
from archdsl.reference_rules import RULES, rules_for
from archdsl.weights import WeightMappingError
from archdsl.weights.sources import reference_names
from archdsl.zoo_status import STATUS
from tests.conftest import ZOO, assert_same_outputs, randomize_batchnorm, zoo
from tests.zoo.perturb import randomize_parameters


def test_every_rule_says_why_and_names_references_in_the_status_table_spelling():
    for rule in RULES:
        assert rule.why and rule.match
        assert all(p.startswith(("tv:", "timm:")) for p in rule.match), rule.match
        assert set(rule.refuse) <= {p.stem for p in ZOO.glob("*.arch")}, rule.refuse


def test_rules_are_found_by_the_reference_names():
    import torchvision

    assert reference_names(timm.create_model("vgg11", pretrained=False)) == ["timm:vgg11"]
    assert "tv:resnet50" in reference_names(torchvision.models.resnet18())  # every builder of its module
    assert [r.match for r in rules_for(["timm:swinv2_tiny_window8_256"])] == [("timm:swinv2_*",)]
    assert rules_for(["tv:swin_v2_t"]) == []  # the zoo's own reference needs none


def test_the_status_table_references_need_no_refusal():
    refs = [c.params for variants in STATUS.values() for c in variants.values() if c.library]
    for rule in RULES:
        for stem in rule.refuse:
            own = [c.params for c in STATUS[stem].values() if c.library]
            assert not any(fnmatch.fnmatchcase(r, p) for r in own for p in rule.match), (stem, rule.match)
    assert refs


@pytest.mark.parametrize("stem,variant,name,reason", [
    ("swin_v2", "tiny", "swinv2_tiny_window8_256", "separate `q_bias` and `v_bias`"),
    ("mobilenet_v3", "small", "mobilenetv3_small_100", "eps=1e-5"),
])
def test_a_reference_known_to_differ_is_refused_with_the_reason(stem, variant, name, reason):
    ref = timm.create_model(name, pretrained=False)
    with pytest.raises(WeightMappingError, match=rf"timm {name}: it is not the network zoo/{stem}.arch describes: .*{reason}"):
        archdsl.load_reference(archdsl.build(zoo(f"{stem}.arch"), variant), ref)


def test_a_refusal_binds_the_zoo_file_not_the_arch_name():
    # the same text as zoo/mobilenet_v3.arch (same `arch` name) with timm's BatchNorm eps: timm's model loads
    text = zoo("mobilenet_v3.arch").read_text().replace("default bn(eps=0.001, momentum=0.01)", "default bn(eps=1e-5)")
    assert "default bn(eps=1e-5)" in text
    torch.manual_seed(0)
    ref = timm.create_model("mobilenetv3_small_100", pretrained=False).eval()
    randomize_parameters(ref)
    randomize_batchnorm(ref)
    ours = archdsl.build(text, "small")
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, (3, 224, 224))


def test_timm_efficientformer_heads_pair_in_forward_order(monkeypatch):
    from archdsl import reference_rules

    torch.manual_seed(0)
    ref = timm.create_model("efficientformer_l1", pretrained=False).eval()
    randomize_parameters(ref)
    ours = archdsl.build(zoo("efficientformer.arch"), "l1")
    mapping = archdsl.load_reference(ours, ref)
    assert mapping["head.distilled.fc1.weight"] == "head.weight" and mapping["head.distilled.fc2.weight"] == "head_dist.weight"
    assert mapping.report.error < 1e-6
    monkeypatch.setattr(reference_rules, "RULES", [r for r in RULES if "timm:efficientformer_*" not in r.match])
    with pytest.raises(WeightMappingError, match=r"ambiguous: our head\.distilled\.fc1\.weight 1000x448 could be the "
                                                 r"reference's head\.weight or head_dist\.weight"):
        archdsl.load_reference(archdsl.build(zoo("efficientformer.arch"), "l1"), ref)


@pytest.mark.slow
def test_timm_vgg_classifier_conv_holds_the_linear_layer():
    torch.manual_seed(0)
    ref = timm.create_model("vgg11", pretrained=False).eval()
    randomize_parameters(ref)
    ours = archdsl.build(zoo("vgg.arch"), "vgg11")
    mapping = archdsl.load_reference(ours, ref)
    assert mapping["head.fc1.weight"] == "pre_logits.fc1.weight"  # 4096x25088 <- 4096x512x7x7
    assert_same_outputs(ours, ref, (3, 224, 224))
