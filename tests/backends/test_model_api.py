"""The timm model interface on built networks, and features=True."""

from __future__ import annotations

import torch

import archdsl
from tests.conftest import zoo


def test_forward_features_then_head_equals_forward():
    m = archdsl.build(zoo("convnext.arch"), "tiny", depths=[1, 1, 1, 1]).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        f = m.forward_features(x)
        assert f.shape == (2, 768, 2, 2)
        torch.testing.assert_close(m.forward_head(f), m(x))
        pre = m.forward_head(f, pre_logits=True)
    assert pre.shape == (2, m.num_features) and m.num_features == 768


def test_reset_classifier():
    m = archdsl.build(zoo("resnet.arch"), "resnet18")
    assert m.num_classes == 1000 and m.classifier_name == "head.fc"
    m.reset_classifier(10)
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 10) and m.num_classes == 10
    m.reset_classifier(0)
    assert m(torch.randn(1, 3, 64, 64)).shape == (1, 512)


def test_pretrained_cfg():
    m = archdsl.build(zoo("convnext.arch"), "tiny", input_shape=(3, 160, 160))
    cfg = m.pretrained_cfg
    assert cfg["input_size"] == (3, 160, 160) and cfg["num_classes"] == 1000
    assert len(cfg["mean"]) == 3 and m.default_cfg is cfg


def test_features_only():
    # one level per resolution, as timm's resnet50 lists them: the stem's relu, then each stage
    m = archdsl.build(zoo("resnet.arch"), "resnet50", features=True).eval()
    assert [f["num_chs"] for f in m.feature_info] == [64, 256, 512, 1024, 2048]
    assert [f["reduction"] for f in m.feature_info] == [2, 4, 8, 16, 32]
    outs = m(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [64, 256, 512, 1024, 2048]
    assert outs[-1].shape[-1] == 2
    m = archdsl.build(zoo("resnet.arch"), "resnet50", features=True, out_indices=(1, 2, 3, 4)).eval()
    assert m.feature_info.channels() == [256, 512, 1024, 2048] and m.feature_info.reduction() == [4, 8, 16, 32]


def test_features_need_stem_and_stages():
    import pytest

    text = "arch net(classes=10)\ninput 3x16x16\nhead gap fc(classes)\n"
    with pytest.raises(archdsl.ArchError, match="features=True needs a network with `stem` and `stage` lines"):
        archdsl.build(text, features=True)


def test_unknown_init_scheme_is_an_arch_error():
    # found by tests/test_error_sites.py: this error has no location yet (build_module has no
    # span for the `init` line); the lowering should check the scheme where it reads `init`
    import pytest

    text = "arch net(classes=10)\ninput 3x16x16\ninit xavier\nstem conv3(8)\nhead gap fc(classes)\n"
    with pytest.raises(archdsl.ArchError, match="unknown init scheme `xavier`"):
        archdsl.build(text)
