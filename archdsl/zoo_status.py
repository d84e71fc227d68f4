"""What is verified for each zoo variant: the one table behind `archdsl zoo` and docs/zoo.md.

Each zoo variant has a `Check`:
  - `params`: what its parameter count is checked against: a reference model
    (`tv:NAME` = torchvision.models.NAME, `timm:NAME` = timm.create_model(NAME)), or `paper`
    (the paper's table; `note` says which figure and how close), or `composite` (no library
    has the whole network: `note` says what its parts are checked against, in `test`).
  - `outputs`: where its float64 outputs are checked equal to the reference's after
    `archdsl.load_reference`: "default" (the default test suite), "slow" (`pytest -m slow`)
    or "" (not checked).
  - `test`: the family's own test file (paper figures, structure, side outputs); the
    reference claims themselves are all run by tests/zoo/test_fidelity.py, from this table.

tests/zoo/test_fidelity.py turns every claim here into a test (params for every `tv:`/`timm:`
variant, float64 outputs for every `outputs` claim, slow ones in the slow suite);
tests/test_zoo_status.py checks the table covers exactly the zoo's files and variants.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Check:
    params: str  # "tv:resnet50", "timm:convnext_xlarge", "paper" or "composite"
    outputs: str = ""  # "default", "slow" or ""
    test: str = ""
    note: str = ""
    kwargs: dict = field(default_factory=dict, hash=False, compare=False)  # keyword arguments of the reference constructor

    @property
    def library(self) -> bool:
        """Checked against one torchvision / timm model (tests/zoo/test_fidelity.py runs it)."""
        return self.params.startswith(("tv:", "timm:"))

    @property
    def reference(self) -> str:
        """A short human name: `torchvision resnet50`, `timm convnext_xlarge`, `paper`."""
        lib, _, name = self.params.partition(":")
        return {"tv": "torchvision", "timm": "timm"}.get(lib, lib) + (f" {name}" if name else "")

    def label(self) -> str:
        """One cell: `params = torchvision resnet50; outputs (default suite)`."""
        if self.library:
            what = f"params = {self.reference}"
        elif self.params == "paper":
            what = f"params ~ paper{f' ({self.note})' if self.note else ''}"
        else:
            what = f"params = {self.note}"
        if self.outputs:
            what += f"; outputs ({self.outputs} suite)"
        return what


def _family(test: str, refs: dict[str, str], default=(), slow=(), **kw) -> dict[str, Check]:
    out = {}
    for v, ref in refs.items():
        outputs = "default" if v in default else "slow" if v in slow else ""
        out[v] = Check(ref, outputs, test, **kw)
    return out


T = "tests/zoo/test_{}.py".format
FIDELITY = "tests/zoo/test_fidelity.py"  # families with no checks of their own beyond the table

STATUS: dict[str, dict[str, Check]] = {
    "alexnet": _family(FIDELITY, {"alexnet": "tv:alexnet"}, default=["alexnet"]),
    "botnet": _family(T("botnet"), {"botnet26t": "timm:botnet26t_256"}, default=["botnet26t"]),
    "cait": _family(T("cait"), {"xxs24": "timm:cait_xxs24_224", "s24": "timm:cait_s24_224"}, default=["xxs24"], slow=["s24"]),
    "coat": _family(T("coat"), {"lite_tiny": "timm:coat_lite_tiny", "lite_small": "timm:coat_lite_small"},
                    default=["lite_tiny"], slow=["lite_small"]),
    "coatnet": _family(T("coatnet"), {"0": "timm:coatnet_0_rw_224"}, default=["0"]),
    "convnext": _family(T("convnext_resnet"), {"tiny": "tv:convnext_tiny", "small": "tv:convnext_small", "base": "tv:convnext_base",
                                               "large": "tv:convnext_large", "xlarge": "timm:convnext_xlarge"},
                        default=["tiny"], slow=["small", "base", "large", "xlarge"]),
    "convnext_v2": _family(T("convnext_v2"), {v: f"timm:convnextv2_{v}" for v in ["atto", "femto", "pico", "nano", "tiny", "small",
                                                                                 "base", "large", "huge"]},
                           default=["tiny"], slow=["atto", "femto", "pico", "nano", "small", "base", "large", "huge"]),
    "deepvit": {"s": Check("paper", "", T("deepvit"), note="27M, Table 5"),
                "l": Check("paper", "", T("deepvit"), note="not equal: 58.9M vs 55M; the official configuration is checked")},
    "deit": _family(T("deit"), {"tiny": "timm:deit_tiny_patch16_224", "small": "timm:deit_small_patch16_224",
                                "base": "timm:deit_base_patch16_224", "tiny_distilled": "timm:deit_tiny_distilled_patch16_224",
                                "small_distilled": "timm:deit_small_distilled_patch16_224",
                                "base_distilled": "timm:deit_base_distilled_patch16_224"},
                    default=["tiny", "tiny_distilled"], slow=["small", "base", "small_distilled", "base_distilled"]),
    "densenet": _family(T("densenet"), {v: f"tv:{v}" for v in ["densenet121", "densenet161", "densenet169", "densenet201"]},
                        default=["densenet121"], slow=["densenet161", "densenet169", "densenet201"]),
    "efficientformer": _family(T("efficientformer"), {v: f"timm:efficientformer_{v}" for v in ["l1", "l3", "l7"]},
                               default=["l1"], slow=["l3", "l7"]),
    "efficientnet": _family(T("efficientnet"), {f"b{i}": f"tv:efficientnet_b{i}" for i in range(8)},
                            default=["b0"], slow=[f"b{i}" for i in range(1, 8)]),
    "efficientnet_v2": _family(T("efficientnet_v2"), {v: f"tv:efficientnet_v2_{v}" for v in "sml"}, default=["s"], slow=["m", "l"]),
    "gmlp": _family(T("gmlp"), {v: f"timm:gmlp_{v}16_224" for v in ["ti", "s", "b"]}, default=["s"], slow=["ti", "b"]),
    "googlenet": {"googlenet": Check("tv:googlenet", "default", T("googlenet"), kwargs={"aux_logits": False, "init_weights": False}),
                  "googlenet_aux": Check("tv:googlenet", "default", T("googlenet"), kwargs={"aux_logits": True, "init_weights": False})},
    "inception_v3": {"inception_v3": Check("tv:inception_v3", "default", T("inception_v3"),
                                           kwargs={"aux_logits": False, "init_weights": False}),
                     "inception_v3_aux": Check("tv:inception_v3", "slow", T("inception_v3"),
                                               kwargs={"aux_logits": True, "init_weights": False})},
    "lenet": _family(T("lenet"), {"lenet5": "paper"}, note="61,706 params, exactly"),
    "localvit": _family(T("localvit"), {"tiny": "paper"}, note="5.8M params, 1.3 GFLOPs"),
    "maxvit": _family(T("maxvit"), {"tiny": "timm:maxvit_tiny_tf_224"}, slow=["tiny"]),
    "mlp_mixer": _family(T("mlp_mixer"), {"s16": "timm:mixer_s16_224", "b16": "timm:mixer_b16_224"}, default=["s16"], slow=["b16"]),
    "mnasnet": _family(FIDELITY, {v: f"tv:{v}" for v in ["mnasnet0_5", "mnasnet1_0"]}, default=["mnasnet0_5", "mnasnet1_0"]),
    "mobilenet_v1": _family(FIDELITY, {"mobilenetv1_100": "timm:mobilenetv1_100"}, default=["mobilenetv1_100"]),
    "mobilenet_v2": _family(T("mobilenet_v2"), {"mobilenet_v2": "tv:mobilenet_v2"}, default=["mobilenet_v2"]),
    "mobilenet_v3": _family(T("mobilenet_v3"), {"large": "tv:mobilenet_v3_large", "small": "tv:mobilenet_v3_small"},
                            default=["large", "small"]),
    "nasnet": _family(T("nasnet"), {"nasnet_a_large": "timm:nasnetalarge"}, slow=["nasnet_a_large"]),
    "pvt_v2": _family(T("pvt_v2"), {f"b{i}": f"timm:pvt_v2_b{i}" for i in range(6)}, default=["b0"], slow=["b1", "b2", "b3", "b4", "b5"]),
    "regnet": _family(T("regnet"), {"x_400mf": "timm:regnetx_004", "x_800mf": "timm:regnetx_008", "x_1_6gf": "timm:regnetx_016",
                                    "y_400mf": "timm:regnety_004", "y_800mf": "timm:regnety_008", "y_1_6gf": "timm:regnety_016",
                                    "y_8gf": "timm:regnety_080"},
                      default=["x_400mf", "y_400mf"], slow=["x_800mf", "x_1_6gf", "y_800mf", "y_1_6gf", "y_8gf"]),
    "replknet": _family(T("replknet"), {"b31": "paper"}, note="params within 1.5%, FLOPs within 5%; deploy form == training form"),
    "repvgg": _family(T("repvgg"), {v: f"timm:repvgg_{v}" for v in ["a0", "a1", "a2", "b0", "b1"]}, default=["a0"],
                      slow=["a1", "a2", "b0", "b1"]),
    "resmlp": _family(T("resmlp"), {"12": "timm:resmlp_12_224", "24": "timm:resmlp_24_224", "36": "timm:resmlp_36_224",
                                    "big_24": "timm:resmlp_big_24_224"}, default=["12"], slow=["24", "36", "big_24"]),
    "resnet": _family(T("convnext_resnet"), {v: f"tv:{v}" for v in ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]},
                      default=["resnet18", "resnet50"], slow=["resnet34", "resnet101", "resnet152"]),
    "resnet_v2": _family(T("resnet_v2"), {v: f"timm:{v}" for v in ["resnetv2_50", "resnetv2_101"]},
                         default=["resnetv2_50"], slow=["resnetv2_101"]),
    "resnext": _family(T("resnext"), {v: f"tv:{v}" for v in ["resnext50_32x4d", "resnext101_32x8d"]},
                       default=["resnext50_32x4d"], slow=["resnext101_32x8d"]),
    "senet": _family(T("senet"), {v: f"timm:{v}" for v in ["seresnet50", "seresnext50_32x4d"]},
                     default=["seresnet50"], slow=["seresnext50_32x4d"]),
    "shufflenet_v2": _family(T("shufflenet_v2"), {v: f"tv:shufflenet_v2_{v}" for v in ["x0_5", "x1_0", "x1_5", "x2_0"]},
                             default=["x0_5", "x1_0"], slow=["x1_5", "x2_0"]),
    "squeezenet": _family(FIDELITY, {"v1_0": "tv:squeezenet1_0", "v1_1": "tv:squeezenet1_1"}, default=["v1_0", "v1_1"]),
    "swin": _family(T("swin"), {"tiny": "tv:swin_t", "small": "tv:swin_s", "base": "tv:swin_b"}, default=["tiny"], slow=["small", "base"]),
    "swin_v2": _family(T("swin"), {"tiny": "tv:swin_v2_t", "small": "tv:swin_v2_s", "base": "tv:swin_v2_b"},
                       default=["tiny"], slow=["small", "base"]),
    "t2t_vit": _family(T("t2t_vit"), {"t2t_vit_14": "paper"}, note="21.5M params, 4.8 GFLOPs"),
    "van": _family(T("van"), {v: "paper" for v in ["tiny", "small", "base", "large"]}, note="params and FLOPs to the paper's rounding"),
    "vgg": _family(T("vgg"), {v: f"tv:{v}" for v in ["vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"]},
                   default=["vgg11", "vgg11_bn"], slow=["vgg13", "vgg16", "vgg19", "vgg13_bn", "vgg16_bn", "vgg19_bn"]),
    "vit": _family(T("vit"), {"tiny": "timm:vit_tiny_patch16_224", "small": "timm:vit_small_patch16_224", "base": "tv:vit_b_16",
                              "large": "tv:vit_l_16", "base32": "tv:vit_b_32"},
                   default=["tiny"], slow=["small", "base", "large", "base32"]),
    "vit_hybrid": {"r50_b16": Check("timm:vit_base_r50_s16_224", "default", T("vit_hybrid"), kwargs={"num_classes": 1000})},
    "vitc": _family(T("vitc"), {v: "paper" for v in ["vitp_1gf", "vitp_4gf", "vitp_18gf", "vitc_1gf", "vitc_4gf", "vitc_18gf"]},
                    note="params and FLOPs to the paper's rounding"),
    "vitdet": {"base": Check("composite", "", T("vitdet"),
                             note="backbone = timm samvit_base_patch16 trunk, pyramid = detectron2's SimpleFeaturePyramid "
                                  "as written in the test; params and outputs equal")},
    "wide_resnet": _family(FIDELITY, {v: f"tv:{v}" for v in ["wide_resnet50_2", "wide_resnet101_2"]},
                           default=["wide_resnet50_2"], slow=["wide_resnet101_2"]),
    "xcit": _family(T("xcit"), {"tiny12": "timm:xcit_tiny_12_p16_224", "small12": "timm:xcit_small_12_p16_224"},
                    default=["tiny12"], slow=["small12"]),
}


def status(stem: str, variant: str | None) -> Check | None:
    """The check recorded for `zoo/STEM.arch` variant `variant` (None: not in the table)."""
    return STATUS.get(stem, {}).get(variant or "")


def verified_cell(stem: str, variant: str | None) -> str:
    """Short text for `archdsl zoo`: `params=tv:resnet50, outputs` / `params~paper` / `-`."""
    c = status(stem, variant)
    if c is None:
        return "-"
    cell = f"params={c.params}" if c.library else "params~paper" if c.params == "paper" else f"params={c.params}"
    if c.outputs:
        cell += ", outputs" + ("" if c.outputs == "default" else " (slow)")
    return cell
