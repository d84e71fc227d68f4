"""BoTNet-26t is the same network as timm's botnet26t_256."""

from __future__ import annotations

import timm
import torch

import archdsl
from tests.conftest import assert_same_outputs, randomize_batchnorm, zoo
from tests.zoo.perturb import randomize_parameters


def test_outputs_equal_reference_after_weight_transfer():
    # timm registers (and runs) each bottleneck's shortcut before its convs; load_reference pairs by data flow
    torch.manual_seed(0)
    reference = timm.create_model("botnet26t_256", pretrained=False)
    randomize_parameters(reference)
    randomize_batchnorm(reference)
    ours = archdsl.build(zoo("botnet.arch"), "botnet26t")
    mapping = archdsl.load_reference(ours, reference)
    assert mapping["stages.0.blocks.0.shortcut.conv.weight"] == "stages.0.0.shortcut.conv.weight"
    assert_same_outputs(ours, reference, (3, 256, 256))


def test_attention_replaces_the_last_three_spatial_convs():
    m = archdsl.build(zoo("botnet.arch"), "botnet26t")
    attn = [name for name, mod in m.named_modules() if name.endswith("self_attn")]
    assert attn == ["stages.2.blocks.1.mhsa1.self_attn", "stages.3.blocks.0.mhsa1.self_attn", "stages.3.blocks.1.mhsa1.self_attn"]
    assert isinstance(m.stages[3].blocks[0].mhsa1.self_attn.pool, torch.nn.AvgPool2d)
    assert archdsl.summary(zoo("botnet.arch"))["output_shape"] == [1, 1000]


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    model = archdsl.build(zoo("botnet.arch"), "botnet26t").eval()
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    x = torch.randn(1, 3, 256, 256)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x))
