"""Symbolic numbers (archdsl/ir/sym.py): values keep the expression they came from, and a
division that a multiplication undoes prints as what was divided."""

from __future__ import annotations

import ast

from archdsl.ir import sym


def text(v) -> str:
    return ast.unparse(v.expr)


def test_a_multiplication_undoing_a_division_prints_the_dividend():
    c = sym.symbol(192, "c")
    assert text((4 * c) // 4) == "c"
    assert text(4 * (c // 4)) == "c"
    heads = (3 * c) // 96  # heads inferred from a qkv width: 3 * c channels of 32-wide q, k, v
    assert heads == 6 and text(heads) == "3 * c // 96"
    assert heads * 32 == 192 and text(heads * 32) == "c"  # heads times the head width
    assert text(32 * heads) == "c"
    assert text(16 * heads) == "3 * c // 6"


def test_no_rewrite_where_the_division_is_not_exact():
    c = sym.symbol(100, "c")
    v = (3 * c) // 96 * 32  # 300 // 96 = 3, times 32 = 96: not 3 * c // 3
    assert v == 96 and text(v) == "3 * c // 96 * 32"
    assert text(5 * ((3 * sym.symbol(192, "c")) // 96)) == "5 * (3 * c // 96)"  # 96 is not a multiple of 5
