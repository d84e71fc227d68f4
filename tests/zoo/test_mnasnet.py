"""MnasNet is torchvision's mnasnet0_5 / mnasnet1_0."""

from __future__ import annotations

import pytest

from tests.zoo.reference import check_outputs, check_params


@pytest.mark.parametrize("variant", ["mnasnet0_5", "mnasnet1_0"])
def test_params_equal_reference(variant):
    check_params("mnasnet.arch", variant, f"tv:{variant}")


def test_outputs_equal_reference():
    check_outputs("mnasnet.arch", "mnasnet0_5", "tv:mnasnet0_5")


@pytest.mark.slow
def test_mnasnet1_0_outputs_equal_reference():
    check_outputs("mnasnet.arch", "mnasnet1_0", "tv:mnasnet1_0")
