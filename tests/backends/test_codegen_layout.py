"""Line layout of generated code (archdsl/backends/codegen/layout.py) is what ruff's
formatter makes of it: long call chains split before each method ("fluent" style)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from archdsl.backends.codegen.layout import assign, split_expr

CHAIN = "x.unflatten(3, (-1, 7)).unflatten(2, (-1, 7)).permute(0, 2, 4, 3, 5, 1).flatten(3, 4)"


def test_a_long_chain_is_parenthesized_and_split_before_each_method():
    assert assign(8, "t", CHAIN, "(?, ?, 49, c)") == [
        "        t = (  # (?, ?, 49, c)",
        "            x.unflatten(3, (-1, 7))",
        "            .unflatten(2, (-1, 7))",
        "            .permute(0, 2, 4, 3, 5, 1)",
        "            .flatten(3, 4)",
        "        )",
    ]


def test_a_chain_that_fits_inside_the_parentheses_stays_one_line():
    chain = "self.attn(t).unflatten(3, (7, -1)).permute(0, 5, 1, 3, 2, 4).flatten(4, 5)"
    assert split_expr(8, chain, "", "return ") == ["        return (", f"            {chain}", "        )"]


def test_a_chain_as_an_argument_splits_inside_the_call_brackets():
    assert assign(8, "y", f"self.fc({CHAIN})") == [
        "        y = self.fc(",
        "            x.unflatten(3, (-1, 7))",
        "            .unflatten(2, (-1, 7))",
        "            .permute(0, 2, 4, 3, 5, 1)",
        "            .flatten(3, 4)",
        "        )",
    ]


@pytest.mark.parametrize("expr", ["self.fc(o.permute(0, 1, 2, 4, 3, 5).flatten(4, 5))",  # one method after a call
                                  "self.attn(t).flatten(2, 3)", "x.a(1).b(2) + x", "[f(k).a().b() for k in range(3)]"])
def test_what_is_not_one_long_chain_keeps_the_old_layout(expr):
    assert split_expr(8, expr, "", "x = ") == [f"        x = {expr}"]


def test_ruff_leaves_the_layout_unchanged(tmp_path):
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed")
    body = [*assign(8, "t", CHAIN, "(?, ?, 49, c)"), *assign(8, "y", f"self.fc({CHAIN})"),
            *split_expr(8, "self.attn(t).unflatten(3, (7, -1)).permute(0, 5, 1, 3, 2, 4).flatten(4, 5)", "", "return ")]
    text = "\n".join(["class A:", "    def f(self, x, t):", *body]) + "\n"
    path = tmp_path / "f.py"
    path.write_text(text)
    fmt = subprocess.run([ruff, "format", "--isolated", "--no-cache", "--check", "--diff", str(path)],
                         check=False, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
