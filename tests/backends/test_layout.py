"""Line layout of generated code (archdsl/backends/codegen/layout.py) is ruff's: a call chain
that does not fit goes one call per line, in parentheses of its own unless inside a call."""

from __future__ import annotations

import random
import shutil
import subprocess

import pytest

from archdsl.backends.codegen.layout import assign, split_expr

CHAIN = "self.conv1(x).unflatten(1, (-1, 96)).permute(0, 1, 3, 4, 2).flatten(2, 3).chunk(3, -1)"


def test_a_long_chain_goes_one_call_per_line():
    assert assign(8, "q, k, v", CHAIN) == [
        "        q, k, v = (",
        "            self.conv1(x)",
        "            .unflatten(1, (-1, 96))",
        "            .permute(0, 1, 3, 4, 2)",
        "            .flatten(2, 3)",
        "            .chunk(3, -1)",
        "        )",
    ]


def test_a_chain_that_fits_in_its_parentheses_stays_one_line():
    expr = CHAIN.replace("self.conv1(x)", "qkv")
    assert assign(8, "q, k, v", expr) == ["        q, k, v = (", f"            {expr}", "        )"]


def test_a_chain_inside_a_call_gets_no_parentheses_of_its_own():
    lines = split_expr(8, f"self.proj({CHAIN}.flatten(1, 2).flatten(1, 2))", "", "return ")
    assert lines[0] == "        return self.proj(" and lines[1] == "            self.conv1(x)" and lines[-1] == "        )"


def test_one_call_after_a_call_is_not_a_chain():
    # `a.f(x).g(y)`: one attribute read from a call; ruff splits at the last bracket
    assert assign(8, "x", "self.conv1(x).reshape(aaaaaaaaaaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbbbbbbbbb, ccccccccccccccc)")[0] == \
        "        x = self.conv1(x).reshape("


def test_random_chains_are_laid_out_as_ruff_does(tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    rng = random.Random(0)
    calls = [".unflatten(1, (-1, 96))", ".permute(0, 1, 3, 4, 2)", ".flatten(2, 3)", ".chunk(3, -1)",
             ".reshape(aaaaaaaaaaaaaaa, bbbbbbbbbbbbbbbbb, ccccccccccccccc)", ".mean((2, 3), keepdim=True)"]
    roots = ["x", "qkv", "self.conv1(x)", "self.some_long_module_name(x)", "F.scaled_dot_product_attention(q, k, v)"]
    lines = ["def f(self, x):"]
    for _ in range(200):
        expr = rng.choice(roots) + "".join(rng.choice(calls) for _ in range(rng.randint(1, 7)))
        kind = rng.choice(["assign", "return", "argument"])
        if kind == "assign":
            lines += assign(4, rng.choice(["x", "q, k, v", "some_long_name"]), expr)
        elif kind == "return":
            lines += split_expr(4, expr, "", "return ")
        else:
            lines += assign(4, "x", f"self.proj({expr})")
    path = tmp_path / "chains.py"
    path.write_text("\n".join(lines) + "\n")
    fmt = subprocess.run([ruff, "format", "--isolated", "--no-cache", "--check", "--diff", str(path)], capture_output=True, text=True,
                         check=False)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
