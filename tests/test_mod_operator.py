"""`%` in expressions: alternating blocks (Swin's shift on odd blocks) need a remainder."""

from __future__ import annotations

import pytest

from archdsl.errors import ArchError
from archdsl.ir.values import Env, evaluate
from archdsl.syntax import parse_text


def _eval(text: str):
    program = parse_text(f"arch t(a={text})\ninput 3x8x8\nhead gap\n")
    return evaluate(program.params[0].default, Env())


def test_remainder_and_precedence():
    assert _eval("7 % 2") == 1
    assert _eval("3 % 2 * 7 // 2") == 3  # same precedence as * and //, left to right
    assert _eval("1 + 5 % 3") == 3


def test_remainder_by_zero_is_located():
    with pytest.raises(ArchError, match="division by zero"):
        _eval("4 % 0")
