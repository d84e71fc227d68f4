"""Lowering limits that a corpus case would take seconds to reach."""

from __future__ import annotations

import pytest

import archdsl
from archdsl.ir import lower


def test_layer_limit_is_a_located_error(monkeypatch):
    # the real limit is 200,000 layers (about 8 s to lower); the check is the same at 50
    monkeypatch.setattr(lower, "MAX_NODES", 50)
    text = "arch net(classes=10)\ninput 3x16x16\nstem conv3(8) [relu] x60\nhead gap fc(classes)\n"
    with pytest.raises(archdsl.ArchError, match="the network has more than 50 layers") as e:
        archdsl.compile_graph(text)
    assert e.value.span.line == 3 and e.value.hint == "reduce the repeat counts"
