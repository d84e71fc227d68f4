"""CoaT-Lite (factorized attention, conv position encodings shared per stage) equals timm's
coat_lite_tiny / coat_lite_small (params and outputs: tests/zoo/test_fidelity.py)."""

from __future__ import annotations

import torch

import archdsl
from tests.conftest import zoo

COAT = zoo("coat.arch")


def test_position_encodings_are_one_module_per_stage():
    model = archdsl.build(COAT, "lite_tiny")
    depths = archdsl.summary(COAT, "lite_tiny")["parameters"]["depths"]
    calls = {}
    for i, stage in enumerate(model.stages):
        for name in ("cpe", "crpe"):
            module = getattr(stage.shared, name)
            module.register_forward_hook(lambda *_, key=(i, name): calls.__setitem__(key, calls.get(key, 0) + 1))
        assert not any(isinstance(m, torch.nn.Conv2d) for m in stage.blocks.modules())  # no per-block copies
    model.eval()(torch.randn(1, 3, 224, 224))
    assert calls == {(i, n): d for i, d in enumerate(depths) for n in ("cpe", "crpe")}
    # 4 patch embeddings + per stage one 3x3 position conv and three relative-position convs
    assert sum(isinstance(m, torch.nn.Conv2d) for m in model.modules()) == 4 * (1 + 1 + 3)
    assert len(model.state_dict()) == len(list(model.parameters()))  # each shared tensor once


def test_stage_shapes_and_macs():
    s = archdsl.summary(COAT, "lite_tiny")
    # a class token in every stage: 56x56, 28x28, 14x14, 7x7 patches + 1
    assert [st["output_shape"][1] for st in s["stages"][1:5]] == [3137, 785, 197, 50]
    # CoaT paper, Table 2: CoaT-Lite Tiny 1.6 GFLOPs, CoaT-Lite Small 4.0 GFLOPs (multiply-adds)
    assert abs(s["macs"] / 1e9 - 1.6) < 0.05
    assert abs(archdsl.summary(COAT, "lite_small")["macs"] / 1e9 - 4.0) < 0.1


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    model = archdsl.build(COAT, "lite_tiny").eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        torch.testing.assert_close(torch.compile(model, fullgraph=True, backend="eager")(x), model(x))
