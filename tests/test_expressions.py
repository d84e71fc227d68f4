"""Expressions: comparisons, conditionals, boolean logic, list comprehensions, list functions."""

from __future__ import annotations

import pytest

import archdsl.api
from archdsl.errors import ArchError


def value(expr: str, **params):
    """Evaluate `expr` as the default of a header parameter declared after `params` (the
    parameters resolved as the compiler's first pass does)."""
    from archdsl.passes.parameters import resolve_parameters

    header = "".join(f"{k}={v}, " for k, v in params.items())
    text = f"arch net({header}out={expr})\ninput 3x8x8\nhead gap\n"
    return resolve_parameters(archdsl.parse(text)).values["out"]


@pytest.mark.parametrize("expr,expected", [
    ("1 < 2", True), ("2 <= 1", False), ("3 == 3.0", True), ("[1, 2] != [1, 2]", False),
    ('"relu" == "relu"', True),
    ("1 if 2 > 1 else 0", 1), ("1 if false else 2 if true else 3", 2),
    ("true and not false", True), ("false or 1 < 0", False),
    ("false and 1", False), ("true or 1", True),  # short-circuit: the right side is not evaluated
    ("[w * 2 for w in [1, 2, 3]]", [2, 4, 6]),
    ("[w for w in range(6) if w > 3]", [4, 5]),
    ("[[r[1], r[0]] for r in [[1, 2], [3, 4]]]", [[2, 1], [4, 3]]),
    ("range(2, 5)", [2, 3, 4]), ("unique([8, 8, 16, 8, 32])", [8, 16, 32]),
    ("count([8, 8, 16], 8)", 2), ("log(8, 2)", pytest.approx(3.0)), ("abs(-2)", 2),
    ("1 + 2 * 3 == 7 and 2 ** 3 > 7", True),
])
def test_values(expr, expected):
    assert value(expr) == expected


def test_comprehension_variable_is_local():
    assert value("[w + width for w in [1, 2]]", width=10) == [11, 12]
    with pytest.raises(ArchError, match="unknown name `w`"):
        value("[w for w in [1]][0] + w")


def test_regnet_rule_in_the_language():
    # the paper's quantized linear rule for RegNetX-400MF, checked against timm's generator
    from timm.models.regnet import generate_regnet

    widths = value("[round(w0 * wm ** round(log((w0 + wa * j) / w0, wm)) / 8) * 8 for j in range(d)]",
                   w0=24, wa=24.48, wm=2.54, d=22)
    assert widths == generate_regnet(24.48, 24, 2.54, 22, 16)[0]


@pytest.mark.parametrize("expr,message", [
    ("range(1.5)", "bad arguments to `range`"),
    ("range(10 ** 7)", "more than 100,000 entries"),
    ("log(8, 1)", "bad arguments to `log`"),
    ("not 3", "`not` needs true or false"),
    ("1 if 2 else 3", "`if` needs true or false"),
    ("[1, 2] < [3]", "`<` needs numbers"),
])
def test_errors(expr, message):
    with pytest.raises(ArchError, match=message):
        value(expr)


@pytest.mark.parametrize("expr,message,at", [
    ("1000000.0 ** 64", "the result of `**` is too large", "1000000.0 ** 64"),
    ("1 + 1e300 * 1e300", "the result of `*` is too large", "1e300 * 1e300"),  # inf, no exception
    ("1e308 // 1e-308", "the result of `//` is too large", "1e308 // 1e-308"),
    ("2 ** 62 * 4", "the result of `*` is too large", "2 ** 62 * 4"),  # beyond 64 bits
    ("10 ** 64 / 3", "the result of `**` is too large", "10 ** 64"),
    ("-(-9223372036854775807 - 1)", "the result of `-` is too large", "-(-9223372036854775807 - 1)"),
    ("ceil(1e300)", "the result of `ceil(...)` is too large", "ceil"),
    ("sum([2 ** 62, 2 ** 62])", "the result of `sum(...)` is too large", "sum"),
    ("float(\"inf\")", "the result of `float(...)` is too large", "float"),
    ("float(\"nan\") * 0", "the result of `float(...)` is not a number", "float"),
    ("(-8) ** 0.5", "the result of `**` is not a real number", "(-8) ** 0.5"),
    ("1e999", "number too large", "1e999"),
    ("9223372036854775808", "number too large", "9223372036854775808"),
    ("9" * 5000, "number too large", "9" * 5000),  # more digits than Python's int() takes
])
def test_overflow_and_non_finite_are_located_errors(expr, message, at):
    with pytest.raises(ArchError, match=message.replace("(", r"\(").replace(")", r"\)").replace("*", r"\*")) as e:
        value(expr)
    span = e.value.span
    assert span.source_line[span.column - 1:].startswith(at)
    assert span.length == len(at)


def test_largest_values_still_evaluate():
    assert value("9223372036854775807") == 2**63 - 1
    assert value("-9223372036854775807 - 1") == -2**63
    assert value("1e308 * 1.5") == 1.5e308
    assert value("2 ** 62 + (2 ** 62 - 1)") == 2**63 - 1
