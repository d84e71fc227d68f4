"""Helpers shared by the zoo fidelity tests: build a reference, compare with ours."""

from __future__ import annotations

import contextlib
import io
import json

import timm
import torch
import torchvision

import archdsl
from archdsl.cli import main
from tests.conftest import assert_same_outputs, meta_params, randomize_batchnorm, zoo


def reference(name: str):
    """`tv:NAME` (torchvision) or `timm:NAME` -> a zero-argument constructor."""
    lib, model = name.split(":")
    if lib == "tv":
        return lambda: getattr(torchvision.models, model)()
    return lambda: timm.create_model(model, pretrained=False)


def compile_json(file: str, variant: str) -> dict:
    """What `archdsl compile FILE --variant V --json` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["compile", str(zoo(file)), "--variant", variant, "--json"]) == 0
    return json.loads(out.getvalue())


def check_params(file: str, variant: str, ref: str) -> int:
    """The built model (meta device) and the CLI's --json both report the reference's count."""
    expected = meta_params(reference(ref))
    assert meta_params(lambda: archdsl.build(zoo(file), variant)) == expected
    assert compile_json(file, variant)["params"] == expected
    return expected


def check_outputs(file: str, variant: str, ref: str, input_shape=None) -> float:
    """Float64 outputs after weight transfer; the input defaults to the variant's own."""
    torch.manual_seed(0)
    r = reference(ref)()
    randomize_batchnorm(r)
    ours = archdsl.build(zoo(file), variant)
    archdsl.load_reference(ours, r, input_shape=input_shape)  # verified there at the same size
    shape = input_shape or tuple(ours.arch_info["input_shape"])
    return assert_same_outputs(ours, r, shape)
