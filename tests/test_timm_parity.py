"""What a timm user expects of a model (issue 20), checked against timm 1.0.31 itself:
feature levels and feature extractors, forward_intermediates, gradient checkpointing,
parameter groups, drop_rate / global_pool / img_size / num_classes=0, and errors for the
keyword arguments archdsl cannot honour. Each works from `archdsl.build`, from the file
`compile -o` writes, and through `timm.create_model("archdsl_...")`."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import timm
import timm.optim
import torch
from timm.models._features import FeatureGetterNet, FeatureListNet
from timm.models._features import FeatureInfo as TimmFeatureInfo

import archdsl
from archdsl.backends.features import FeatureInfo

archdsl.register_timm()

# ours -> timm's model of the same architecture
SAME_LEVELS = [("convnext_tiny", "convnext_tiny"), ("resnet50", "resnet50"), ("efficientnet_b0", "efficientnet_b0"),
               ("vit_tiny", "vit_tiny_patch16_224"), ("cait_xxs24", "cait_xxs24_224"), ("inception_v3", "inception_v3")]
MORE_LEVELS = [("densenet121", "densenet121"), ("regnet_x_400mf", "regnetx_004"), ("repvgg_a0", "repvgg_a0"),
               ("swin_tiny", "swin_tiny_patch4_window7_224"), ("pvt_v2_b0", "pvt_v2_b0"), ("mobilenet_v2", "mobilenetv2_100"),
               ("nasnet_a_large", "nasnetalarge"), ("deit_tiny", "deit_tiny_patch16_224"), ("mlp_mixer_s16", "mixer_s16_224"),
               ("xcit_tiny12", "xcit_tiny_12_p16_224"), ("botnet26t", "botnet26t_256"), ("mnasnet1_0", "mnasnet_100"),
               ("coat_lite_tiny", "coat_lite_tiny"), ("maxvit_tiny", "maxvit_tiny_tf_224"), ("convnext_v2_atto", "convnextv2_atto"),
               ("resmlp_12", "resmlp_12_224"), ("gmlp_ti", "gmlp_ti16_224")]


def levels(feature_info) -> list[tuple[int, int]]:
    return [(d["num_chs"], d["reduction"]) for d in feature_info]


def pair(ours: str, ref: str, **kwargs):
    with torch.device("meta"):
        return timm.create_model("archdsl_" + ours, **kwargs), timm.create_model(ref, **kwargs)


# ---- feature levels ----
@pytest.mark.parametrize("ours,ref", SAME_LEVELS)
def test_feature_info_equals_timms(ours, ref):
    m, t = pair(ours, ref)
    assert isinstance(m.feature_info, list) and levels(m.feature_info) == levels(t.feature_info)
    assert all(d["num_chs"] > 0 and d["reduction"] >= 1 for d in m.feature_info)


@pytest.mark.slow
@pytest.mark.parametrize("ours,ref", MORE_LEVELS)
def test_more_feature_info_equals_timms(ours, ref):
    m, t = pair(ours, ref)
    assert levels(m.feature_info) == levels(t.feature_info)


@pytest.mark.parametrize("ours,ref", [("mobilenet_v3_large", "mobilenetv3_large_100"), ("mobilenet_v3_small", "mobilenetv3_small_100")])
def test_mobilenet_v3_levels_differ_from_timm_only_in_the_last_width(ours, ref):
    # timm counts the final 1x1 conv (960 / 576 wide) as a block; zoo/mobilenet_v3.arch follows
    # torchvision and writes it in the head, so our last level is the last block's output
    m, t = pair(ours, ref)
    a, b = levels(m.feature_info), levels(t.feature_info)
    assert a[:-1] == b[:-1] and a[-1][1] == b[-1][1] == 32
    assert (a[-1][0], b[-1][0]) == ((160, 960) if ours.endswith("large") else (96, 576))


@pytest.mark.parametrize("ours,ref,indices", [("convnext_tiny", "convnext_tiny", (1, 2, 3)), ("resnet50", "resnet50", (0, 2, 4)),
                                              ("efficientnet_b0", "efficientnet_b0", (1, 2, 3, 4)),
                                              ("mobilenet_v3_small", "mobilenetv3_small_100", (0, 1, 2, 3))])
def test_features_only_through_timm(ours, ref, indices):
    m, t = pair(ours, ref, features_only=True, out_indices=indices)
    assert isinstance(m.feature_info, TimmFeatureInfo)
    assert m.feature_info.channels() == t.feature_info.channels()
    assert m.feature_info.reduction() == t.feature_info.reduction()
    assert list(m.feature_info.out_indices) == list(indices)


def test_feature_maps_equal_timms_after_copying_its_weights():
    torch.manual_seed(0)
    small = {"dims": [8, 16, 32, 64], "depths": [1, 1, 2, 1]}  # a small ConvNeXt: the same code, fast
    full = timm.create_model("convnext_tiny", **small).double().eval()
    ref = FeatureListNet(full, out_indices=(1, 2, 3), flatten_sequential=True)  # timm's features_only, on full's modules
    ours = timm.create_model("archdsl_convnext_tiny", features_only=True, out_indices=(1, 2, 3), **small).double().eval()
    mapping = archdsl.load_reference(archdsl.build("convnext_tiny", **small).double(), full)
    ours.load_state_dict({k: full.state_dict()[mapping[k]] for k in ours.state_dict()})  # the network's own module names
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        for a, b in zip(ours(x), ref(x), strict=True):
            assert a.shape == b.shape and torch.equal(a, b)


def test_forward_intermediates_equals_timms_vit():
    torch.manual_seed(0)
    ours = archdsl.build("vit_tiny", depth=4, input_shape=(3, 64, 64)).double().eval()
    ref = timm.create_model("vit_tiny_patch16_224", depth=4, img_size=64).double().eval()
    archdsl.load_reference(ours, ref)
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        for kw in ({"indices": [0, 2, 3]}, {"indices": 2, "norm": True}, {"indices": [-1], "output_fmt": "NLC"}):
            a = ours.forward_intermediates(x, intermediates_only=True, **kw)
            b = ref.forward_intermediates(x, intermediates_only=True, **kw)
            assert [u.shape for u in a] == [v.shape for v in b]
            assert all(torch.allclose(u, v, rtol=1e-10, atol=1e-12) for u, v in zip(a, b, strict=True))
    assert a[0].shape == (2, 16, 192) and b[0].shape == (2, 16, 192)


def test_vit_features_are_per_block_maps():
    m = timm.create_model("archdsl_vit_tiny", features_only=True, out_indices=(3, 7, 11), img_size=64).eval()
    assert m.feature_info.channels() == [192] * 3 and m.feature_info.reduction() == [16] * 3
    assert m.feature_info.module_name() == ["stages.0.blocks.3", "stages.0.blocks.7", "stages.0"]
    with torch.no_grad():
        assert [tuple(o.shape) for o in m(torch.randn(1, 3, 64, 64))] == [(1, 192, 4, 4)] * 3
    assert len(m.stages[0].blocks) == 12  # index 11 needs every block


def test_feature_extractor_is_cut_after_its_last_level():
    full = archdsl.build("resnet18")
    m = archdsl.build("resnet18", features=True, out_indices=(0, 1))
    assert len(m.stages) == 1 and not any(k.startswith("head") for k in m.state_dict())
    assert set(m.state_dict()) < set(full.state_dict())
    m.load_state_dict(full.state_dict(), strict=False)  # a full checkpoint loads into it
    small = archdsl.build("mobilenet_v3_small", features=True, out_indices=(2,))
    assert len(small.stages[0].blocks) == 3 and small.feature_info.module_name() == ["stages.0.blocks.2"]


@pytest.mark.parametrize("feature_cls", ["dict", "getter", "hook"])
def test_feature_classes(feature_cls):
    m = timm.create_model("archdsl_resnet18", features_only=True, out_indices=(1, 3), feature_cls=feature_cls).eval()
    with torch.no_grad():
        out = m(torch.randn(1, 3, 64, 64))
    maps = list(out.values()) if isinstance(out, dict) else out
    assert [o.shape[1] for o in maps] == m.feature_info.channels() == [64, 256]
    if feature_cls == "dict":
        assert list(out) == ["1", "3"]


def test_our_feature_info_has_timms_api():
    info = [{"module": "stem.relu", "num_chs": 64, "reduction": 2}, {"module": "stages.0", "num_chs": 256, "reduction": 4},
            {"module": "stages.1", "num_chs": 512, "reduction": 8}]
    for out_indices in ((0, 2), (-1,), 2):
        ours, theirs = FeatureInfo([dict(d) for d in info], out_indices), TimmFeatureInfo([dict(d) for d in info], out_indices)
        assert ours.out_indices == theirs.out_indices
        assert (ours.channels(), ours.reduction(), ours.module_name()) == (theirs.channels(), theirs.reduction(), theirs.module_name())
        assert ours.get_dicts(keys=["num_chs"]) == theirs.get_dicts(keys=["num_chs"]) and ours.channels(1) == theirs.channels(1)
        assert ours.from_other((0,)).channels() == [64] and len(ours) == 3 and ours[1]["module"] == "stages.0"


# ---- forward_intermediates ----
def test_forward_intermediates_semantics():
    m = archdsl.build("resnet18").eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        final, inter = m.forward_intermediates(x)
        assert torch.equal(final, m.forward_features(x)) and len(inter) == 5
        assert [o.shape[1] for o in inter] == [64, 64, 128, 256, 512]
        last2 = m.forward_intermediates(x, indices=2, intermediates_only=True)
        assert [o.shape[1] for o in last2] == [256, 512]
        early, some = m.forward_intermediates(x, indices=[-4, 1], stop_early=True)
        assert early.shape[1] == 64 and [o.shape[1] for o in some] == [64, 64]
        nlc = m.forward_intermediates(x, indices=[4], output_fmt="NLC", intermediates_only=True)[0]
        assert nlc.shape == (1, 4, 512) and torch.equal(nlc, inter[4].flatten(2).transpose(1, 2))
    with pytest.raises(ValueError, match="out of range"):
        m.forward_intermediates(x, indices=[5])
    with pytest.raises(ValueError, match="output_fmt"):
        m.forward_intermediates(x, output_fmt="NHWC")


# ---- gradient checkpointing ----
def _grads(model, x, enable):
    model.set_grad_checkpointing(enable)
    torch.manual_seed(1)  # stochastic depth draws the same masks in both runs
    out = model(x)
    out.square().sum().backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    model.zero_grad()
    return out.detach(), grads


def test_grad_checkpointing_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    model = archdsl.build("convnext_tiny", dims=[8, 16, 32, 64], depths=[1, 1, 2, 1], drop_path=0.3, classes=5).double().train()
    calls = []
    model.stages[2].blocks[1].register_forward_pre_hook(lambda *a: calls.append(1))
    x = torch.randn(2, 3, 32, 32, dtype=torch.float64)
    out, grads = _grads(model, x, False)
    assert len(calls) == 1
    out_ckpt, grads_ckpt = _grads(model, x, True)
    assert len(calls) == 3  # the checkpointed block ran again in backward
    assert torch.equal(out, out_ckpt)
    assert grads.keys() == grads_ckpt.keys() and all(torch.allclose(grads[k], grads_ckpt[k], rtol=1e-12, atol=1e-14) for k in grads)
    assert all(stage.grad_checkpointing for stage in model.stages)


# ---- parameter groups ----
def test_group_matcher_with_timms_layer_decay():
    model = archdsl.build("convnext_tiny", dims=[8, 16, 32, 64], depths=[1, 1, 2, 1], classes=5)
    layer_of = timm.models.group_parameters(model, model.group_matcher(coarse=False), reverse=True)
    assert layer_of["stem.conv.weight"] == 0
    assert layer_of["stages.0.blocks.0.dwconv.weight"] == 1
    assert layer_of["stages.1.down.conv.weight"] == layer_of["stages.1.blocks.0.dwconv.weight"] == 2
    assert layer_of["stages.2.blocks.1.mlp.fc1.weight"] == 4 and layer_of["head.fc.weight"] == 6
    coarse = timm.models.group_parameters(model, model.group_matcher(coarse=True), reverse=True)
    assert coarse["stages.2.blocks.1.mlp.fc1.weight"] == coarse["stages.2.blocks.0.dwconv.weight"] == 3
    groups = timm.optim.param_groups_layer_decay(model, weight_decay=0.05, layer_decay=0.5)
    scales = {g["lr_scale"] for g in groups}
    assert max(scales) == 1.0 and min(scales) == 0.5 ** 6  # 7 layers: stem, 5 blocks, head


# ---- drop_rate, global_pool, num_classes=0, img_size ----
def test_drop_rate_is_dropout_before_the_classifier():
    m = timm.create_model("archdsl_convnext_tiny", drop_rate=0.3, dims=[8, 16, 32, 64], depths=[1, 1, 1, 1])
    names = [n for n, _ in m.head.named_children()]
    assert names[-2:] == ["dropout", "fc"] and m.head.dropout.p == 0.3
    m = timm.create_model("archdsl_efficientnet_b0", drop_rate=0.5)  # the file's own dropout, set
    assert [type(x).__name__ for x in m.head].count("Dropout") == 1 and m.head.dropout.p == 0.5
    x = torch.randn(2, 3, 32, 32)
    small = archdsl.build("resnet18", drop_rate=0.5, depths=[1, 1, 1, 1]).train()
    assert not torch.equal(small(x), small(x))  # applied in training
    small.eval()
    assert torch.equal(small(x), small(x))


def test_global_pool():
    x = torch.randn(1, 3, 64, 64)
    m = timm.create_model("archdsl_resnet18", global_pool="max").eval()
    with torch.no_grad():
        assert torch.equal(m.forward_head(m.forward_features(x), pre_logits=True), m.forward_features(x).amax((2, 3)))
    m = timm.create_model("archdsl_convnext_tiny", global_pool="", num_classes=0).eval()
    with torch.no_grad():
        assert m(x).shape == (1, 768, 2, 2) and m.num_classes == 0
    m = timm.create_model("archdsl_vit_tiny", global_pool="", num_classes=0, img_size=32).eval()
    with torch.no_grad():
        assert m(torch.randn(1, 3, 32, 32)).shape == (1, 5, 192)  # every token, normed (timm's vit does the same)
    with pytest.raises(archdsl.ArchError, match="this head takes the class token"):
        timm.create_model("archdsl_vit_tiny", global_pool="avg")
    with pytest.raises(archdsl.ArchError, match="an fc needs a vector"):
        timm.create_model("archdsl_resnet18", global_pool="")
    m = archdsl.build("resnet18", depths=[1, 1, 1, 1])
    m.reset_classifier(3, global_pool="max")
    assert m.head.pool.kind == "max" and m.num_classes == 3
    with pytest.raises(ValueError, match="global_pool"):
        m.reset_classifier(3, global_pool="avgmax")


def test_num_classes_zero_keeps_a_classifier_slot():
    m = timm.create_model("archdsl_resnet18", num_classes=0).eval()
    assert isinstance(m.get_classifier(), torch.nn.Identity) and m.num_classes == 0 and m.pretrained_cfg["num_classes"] == 0
    with torch.no_grad():
        assert m(torch.randn(1, 3, 32, 32)).shape == (1, 512)
    m.reset_classifier(7)
    assert m.num_classes == 7 and m(torch.randn(1, 3, 32, 32)).shape == (1, 7)


def test_img_size_sizes_the_token_tables():
    m = timm.create_model("archdsl_vit_tiny", img_size=64, in_chans=1)
    assert m.stem.pos_embed.shape == (1, 17, 192) and m.pretrained_cfg["input_size"] == (1, 64, 64)
    assert m(torch.randn(2, 1, 64, 64)).shape == (2, 1000)
    m = timm.create_model("archdsl_vit_tiny", img_size=(32, 64))
    assert m.stem.pos_embed.shape == (1, 9, 192)


# ---- errors for what archdsl cannot honour ----
@pytest.mark.parametrize("kwargs,message", [
    ({"drop_block_rate": 0.1}, "unknown argument `drop_block_rate`: neither a timm argument archdsl supports (num_classes,"),
    ({"dynamic_img_size": True}, "=True is not supported: a network is built for one input size (token grids, position tables)"),
    ({"drop_path_rate": 0.1}, "resnet has no `drop_path` parameter (no stochastic depth)"),
    ({"out_indices": (1,)}, "out_indices applies to feature extractors: add features_only=True"),
    ({"features_only": True, "feature_cls": "fx"}, "feature_cls='fx' is not supported; one of list, dict, getter, hook"),
    ({"img_size": (1, 2, 3)}, "img_size must be a positive int or (height, width), got (1, 2, 3)"),
])
def test_unsupported_arguments_are_errors(kwargs, message):
    with pytest.raises(archdsl.ArchError) as e:
        timm.create_model("archdsl_resnet18", **kwargs)
    assert message in e.value.message


def test_num_classes_without_a_classes_parameter_is_an_error():
    with pytest.raises(archdsl.ArchError, match="num_classes needs a `classes` parameter, and vitdet declares none"):
        timm.create_model("archdsl_vitdet_base", num_classes=10)


def test_arch_parameters_pass_through():
    m = timm.create_model("archdsl_resnet18", depths=[1, 1, 1, 1], drop_path_rate=0.0)
    assert [len(s.blocks) for s in m.stages] == [1, 1, 1, 1]


# ---- the file `compile -o` writes has it all ----
def test_compiled_file_has_the_timm_interface(tmp_path):
    out = tmp_path / "convnext_small_net.py"
    archdsl.to_source("zoo/convnext.arch", "tiny", dims=[8, 16, 32, 64], depths=[1, 1, 2, 1], classes=5, drop_rate=0.1, output=out)
    spec = importlib.util.spec_from_file_location("convnext_small_net", out)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    net = module.Convnext().eval()
    built = archdsl.build("zoo/convnext.arch", "tiny", dims=[8, 16, 32, 64], depths=[1, 1, 2, 1], classes=5, drop_rate=0.1).eval()
    net.load_state_dict(built.state_dict())
    assert net.feature_info == built.feature_info and net.head.dropout.p == 0.1
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        a, b = net.forward_intermediates(x, indices=(1, 3)), built.forward_intermediates(x, indices=(1, 3))
        assert torch.equal(a[0], b[0]) and all(torch.equal(u, v) for u, v in zip(a[1], b[1], strict=True))
    assert net.group_matcher() == built.group_matcher()
    net.set_grad_checkpointing()
    assert all(s.grad_checkpointing for s in net.stages)
    getter = FeatureGetterNet(net, out_indices=(1, 3))  # timm's own feature wrapper over the file's class
    with torch.no_grad():
        assert [o.shape[1] for o in getter(x)] == getter.feature_info.channels() == [16, 64]


def test_the_docs_example_runs(capsys):
    text = (Path(__file__).resolve().parents[1] / "docs" / "timm.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "docs/timm.md", "exec"), {})  # noqa: S102 - our own documentation
    assert capsys.readouterr().out.strip() == "[256, 512, 1024, 2048] [4, 8, 16, 32]"
