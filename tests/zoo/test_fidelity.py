"""The zoo's fidelity guarantee, driven by archdsl/zoo_status.py (the table `archdsl zoo`
and docs/zoo.md print), so that every claim made there is a test that runs:

- every variant checked against torchvision or timm has exactly the reference's
  parameter count, both built (meta device) and as `archdsl compile --json` reports it;
- every variant whose outputs are claimed equal ("default" here, "slow" in the slow
  suite) gives the reference's float64 outputs after `archdsl.load_reference`, at the
  variant's own input size, with every reference parameter perturbed (so zero biases and
  unit norm weights take part) and BatchNorm statistics randomized;
- (slow) every library-referenced variant, output claim or not, pairs each of its tensors
  with one of the reference's (`archdsl.map_state_dict`, strict, both on the meta device).

The family test files (tests/zoo/test_FAMILY.py) keep what is particular to a family:
paper figures, structure, training-mode side outputs, deploy forms.
"""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision

import archdsl
from archdsl.zoo_status import STATUS
from tests.conftest import assert_same_outputs, meta_params, randomize_batchnorm, zoo
from tests.zoo.perturb import randomize_parameters
from tests.zoo.reference import compile_json

CLAIMS = [(stem, v, c) for stem, variants in STATUS.items() for v, c in variants.items()]


def constructor(check):
    lib, _, name = check.params.partition(":")
    if lib == "tv":
        return lambda: getattr(torchvision.models, name)(**check.kwargs)
    return lambda: timm.create_model(name, pretrained=False, **check.kwargs)


def _cases(select):
    return [pytest.param(stem, v, c, id=f"{stem}-{v}",
                         marks=[pytest.mark.slow] if c.outputs == "slow" and select == "outputs" else [])
            for stem, v, c in CLAIMS if c.library and (select == "params" or c.outputs)]


@pytest.mark.parametrize("stem,variant,check", _cases("params"))
def test_params_equal_reference(stem, variant, check):
    expected = meta_params(constructor(check))
    assert meta_params(lambda: archdsl.build(zoo(f"{stem}.arch"), variant)) == expected
    assert compile_json(f"{stem}.arch", variant)["params"] == expected


@pytest.mark.parametrize("stem,variant,check", _cases("outputs"))
def test_outputs_equal_reference(stem, variant, check):
    torch.manual_seed(0)
    ref = constructor(check)()
    randomize_parameters(ref)
    randomize_batchnorm(ref)
    ours = archdsl.build(zoo(f"{stem}.arch"), variant)
    archdsl.load_reference(ours, ref)
    assert_same_outputs(ours, ref, tuple(ours.arch_info["input_shape"]))


@pytest.mark.slow
@pytest.mark.parametrize("stem,variant,check", _cases("params"))
def test_every_reference_pairs(stem, variant, check):
    with torch.device("meta"):
        ours = archdsl.build(zoo(f"{stem}.arch"), variant)
        ref = constructor(check)()
    mapping = archdsl.map_state_dict(ref, ours)
    assert len(mapping) == len([n for n, _ in ours.named_parameters()]) + sum(
        1 for n in ours.state_dict() if n.endswith(("running_mean", "running_var")))


def test_every_claim_is_collected():
    """A claim the table makes but no case above checks would be a silent gap."""
    params = {(s, v) for s, v, c in CLAIMS if c.library}
    outputs = {(s, v) for s, v, c in CLAIMS if c.outputs}
    assert params == {(p.values[0], p.values[1]) for p in _cases("params")}
    assert outputs == {(p.values[0], p.values[1]) for p in _cases("outputs")}
    assert {c.outputs for _, _, c in CLAIMS} <= {"", "default", "slow"}
