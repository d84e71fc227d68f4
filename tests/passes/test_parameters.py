"""Parameter resolution (archdsl/passes/parameters.py) through the Python API, where values
arrive as Python objects instead of .arch expressions (the .arch paths are in tests/errors)."""

from __future__ import annotations

import pytest

import archdsl

TEXT = """arch net(classes=10, unit: block = plain)
input 3x16x16
block plain(c):
    conv3(c) bn relu
block bottle(c):
    conv1(c) bn relu conv3(c) bn relu
stem conv3(8) bn relu
stage unit x[1] c=[8]
head gap fc(classes)
"""


def test_block_parameter_given_a_name_as_a_string():
    assert archdsl.summary(TEXT, unit="bottle")["params"] != archdsl.summary(TEXT)["params"]


def test_block_parameter_given_an_unknown_name():
    with pytest.raises(archdsl.ArchError, match="`unit` must name a block, and `botle` is not defined in overrides") as e:
        archdsl.build(TEXT, unit="botle")
    assert e.value.hint.startswith("did you mean `bottle`")
