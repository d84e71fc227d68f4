"""The DSL's rounding rules, which generated block classes call when the `.arch` text
computes a width with them (`e=round8(cin*t)`). Pure Python (the compiler uses the same
functions to check shapes), so this module imports nothing.
"""

from __future__ import annotations


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of `divisor`, never going down by more than 10%
    (the MobileNet/EfficientNet reference rule, torchvision's `_make_divisible`)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return int(new_v)


def round8(v: float) -> int:
    """`make_divisible(v, 8)`."""
    return make_divisible(v, 8)
