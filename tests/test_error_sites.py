"""Every user-facing error message in archdsl/ has a case in tests/errors, or a reason here.

The raise sites are read from the code's AST: every construction of `ArchError(...)`,
`ShapeError(...)` (a layer's shape rule; `passes/shapes.py` turns it into an ArchError at
the layer's token) and `_UsageError(...)` (a bad command line). A site's message is its first
argument, as a template: the literal parts of the string or f-string, `{}` where a value
goes. A message held in a local variable, passed in as a parameter of a helper, or returned
by a helper function of the same module is followed to the strings it can be.

A template is covered when the first line of some tests/errors/*.err reads
`FILE:LINE:COL: error: MESSAGE` with MESSAGE matching the whole template (each `{}` any
text; a ShapeError may carry the suffix `passes/shapes.py` adds: " (from ...)" or "; the
input ..."). Sites are keyed by message text, never by file or line, so code may move.

Not sites: a message that starts with another exception's message (`e.message`, `str(e)`,
`{exc}`: that exception's own raise site is the site) or that has no literal text at all
(argparse's usage messages passed through `_UsageError`, tested by
tests/test_cli.py::test_bad_usage_exits_1_without_traceback).

`EXEMPT` lists the templates a .arch case cannot reach, each with the reason; a reason that
is not "dead"/"never shown" names the test that checks the message instead, and that test
must exist and contain the message's longest literal part. An exemption for a template that
is gone, or that the corpus covers anyway, fails too, so the list stays true.

`python -m tests.test_error_sites` prints the coverage table.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "archdsl"
CORPUS = ROOT / "tests" / "errors"
ERROR_CLASSES = ("ArchError", "ShapeError", "_UsageError")
WRAPPED = "<wrapped>"

USAGE = "a command-line usage error: printed as `archdsl: error: ...` without a source line"

# template -> (reason, test that checks the message instead, or None when it cannot be shown)
EXEMPT: dict[str, tuple[str, str | None]] = {
    "cannot write `{}`: the Graphviz `dot` program is not installed": (
        "needs a machine without Graphviz's `dot` program (the test empties PATH)",
        "tests/backends/test_graphviz.py::test_without_dot_program"),
    "features=True needs a network with `stem` and `stage` lines": (
        "an argument of the Python API (archdsl.build(..., features=True)), not .arch text",
        "tests/backends/test_model_api.py::test_features_need_stem_and_stages"),
    "`{}` must name a block, and `{}` is not defined {}": (
        "only a Python override passes a block by name as a string (archdsl.build(..., unit=\"name\")); "
        ".arch text and --set give an expression, so a wrong name is `unknown name`",
        "tests/passes/test_parameters.py::test_block_parameter_given_an_unknown_name"),
    "file is larger than {} bytes": (
        "needs a file over 1 MB, which the corpus should not hold",
        "tests/test_source.py::test_file_over_the_size_limit"),
    "cannot read file: {}": (
        "needs an unreadable file (an OS condition; root reads any file)",
        "tests/test_source.py::test_unreadable_file"),
    "--mode needs --compile": (USAGE, "tests/test_cli.py::test_mode_needs_compile"),
    "the network has more than {} layers": (
        "needs 200,000 layers, about 8 s to lower; the test lowers the same check with the limit at 50",
        "tests/ir/test_lower.py::test_layer_limit_is_a_located_error"),
    "give a budget: --macs or --params": (USAGE, "tests/test_cli_scaling.py::test_usage_errors"),
    "give one budget: --macs or --params": (USAGE, "tests/test_cli_scaling.py::test_usage_errors"),
    "--vary needs parameter names": (USAGE, "tests/test_cli_scaling.py::test_usage_errors"),
    "--divisor must be at least 1": (USAGE, "tests/test_cli_scaling.py::test_usage_errors"),
    "--n must be at least 1 and --spread above 1": (USAGE, "tests/test_cli_scaling.py::test_usage_errors"),
    "plotting needs matplotlib": (
        "needs an environment without matplotlib (the test hides it)",
        "tests/test_cli_scaling.py::test_plot_without_matplotlib"),
    "{} is not installed": (
        "needs an environment without timm or torchvision (the test hides timm)",
        "tests/test_bench.py::test_reference_library_not_installed"),
    "the language server needs pygls": (
        "needs an environment without pygls (the test hides it); the message has no source line",
        "tests/test_cli.py::test_language_server_without_pygls"),
    "internal error in archdsl ({}: {}); please report it": (
        "not a user error: the language server shows a bug in archdsl as a diagnostic instead of stopping",
        "tests/lsp/test_analysis.py::test_a_bug_in_archdsl_is_reported_in_the_editor"),
    "no candidate network checks near the target ({} tried)": (
        "dead: every search starts at the base network (fit: multiplier 1, scale: phi 0), and the base "
        "checks (Space refuses one that does not: tests/errors/scale_base_does_not_check), so a best "
        "candidate always exists", None),
    "produces an empty tensor {}": (
        "the net under the layers' own shape rules: each op checks its sizes first (tried: pad crops, "
        "pools, unfold, patch_merge, conv, deconv, apool), so only a faulty rule reaches it",
        "tests/passes/test_passes.py::test_empty_shape_from_a_rule_is_a_located_error"),
    "unknown activation `{}` for mlp": (
        "dead: `act` arguments are checked when the layer is lowered (ir/lower.py: \"`act` must be an "
        "activation\", tests/errors/bad_activation_arg), before the mlp's shape rule runs", None),
    "unknown activation `{}`": (
        "dead: `act(kind)`'s `kind` and token_mlp's `act` are `act` arguments, checked when the layer is lowered "
        "(\"`{}` must be an activation\", tests/errors/act_unknown_name), before their shape rules run", None),
    "unknown activation `{}` for `{}`": (
        "dead: se's `act`/`gate` are `act` arguments, checked when lowered (as above)", None),
    "empty tensor shape {}": (
        "dead: ops/structure.py check_shape() has no caller", None),
    "cannot add {} and {}": (
        "never shown: passes/shapes.py _merge_message rewrites an add's shape error as "
        "`cannot add branches: ...` (tests/errors/channel_mismatch_add)", None),
    "cannot concatenate {} and {}": (
        "never shown: rewritten as `cannot concatenate branches: ...` (tests/errors/cat_spatial_mismatch)", None),
    "cannot concatenate {} and {}: sizes differ outside the channels": (
        "never shown: rewritten as `cannot concatenate branches: ...` (tests/errors/cat_spatial_mismatch)", None),
    "{} goes after the class token, but there are only {} tokens": (
        "dead: only `dist_token` inserts after position 0, at 1, and a token sequence always has a token", None),
    "parameter `{}` needs a default": (
        "dead: the grammar gives every header parameter a default (grammars/arch.lark `param`); only "
        "block parameters may lack one, and those are bound at the call", None),
}


@dataclass(frozen=True)
class Site:
    file: str
    line: int
    kind: str
    parts: tuple[str | None, ...]  # literal text, None where a value goes

    @property
    def template(self) -> str:
        return "".join("{}" if p is None else p for p in self.parts)

    def pattern(self) -> re.Pattern:
        body = "".join(".*?" if p is None else re.escape(p) for p in self.parts)
        suffix = r"(?: \(from .*\)|; .*)?" if self.kind == "ShapeError" else ""
        return re.compile(f"^{body}{suffix}$")


def _is_other_message(node: ast.AST) -> bool:
    """`e.message`, `str(e)`, `e`: the text of another exception."""
    if isinstance(node, ast.Attribute) and node.attr == "message":
        return True
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "str" and node.args:
        node = node.args[0]
    return isinstance(node, ast.Name) and node.id in ("e", "exc", "err", "error")


class _Messages:
    """The message templates an expression can evaluate to, within one module."""

    def __init__(self, tree: ast.Module):
        self.tree = tree
        self.parent = {c: p for p in ast.walk(tree) for c in ast.iter_child_nodes(p)}
        self.functions = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def _function_of(self, node: ast.AST):
        while node in self.parent:
            node = self.parent[node]
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return node
        return None

    def of(self, node: ast.AST, depth: int = 0) -> list:
        if depth > 6:
            return [(None,)]
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return [(node.value,)]
        if isinstance(node, ast.JoinedStr):
            parts: list = []
            for v in node.values:
                if isinstance(v, ast.Constant):
                    parts.append(v.value)
                elif _is_other_message(v.value) and not parts:
                    return [WRAPPED]
                else:
                    parts.append(None)
            return [tuple(parts)]
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return [WRAPPED if WRAPPED in (a, b) else a + b
                    for a in self.of(node.left, depth + 1) for b in self.of(node.right, depth + 1)]
        if isinstance(node, ast.IfExp):
            return self.of(node.body, depth + 1) + self.of(node.orelse, depth + 1)
        if _is_other_message(node):
            return [WRAPPED]
        if isinstance(node, ast.Name):
            return self._name(node, depth)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in self.functions:
            returns = [r.value for r in ast.walk(self.functions[node.func.id]) if isinstance(r, ast.Return) and r.value is not None]
            return [t for r in returns for t in self.of(r, depth + 1)]
        return [(None,)]

    def _name(self, node: ast.Name, depth: int) -> list:
        fn = self._function_of(node)
        if fn is None:
            return [(None,)]
        assigned = [a.value for a in ast.walk(fn) if isinstance(a, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == node.id for t in a.targets)]
        if assigned:
            return [t for v in assigned for t in self.of(v, depth + 1)]
        params = [a.arg for a in fn.args.args]
        if node.id not in params:
            return [(None,)]
        k = params.index(node.id)
        found = []
        for call in ast.walk(self.tree):
            if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == fn.name:
                arg = call.args[k] if k < len(call.args) else next((kw.value for kw in call.keywords if kw.arg == node.id), None)
                if arg is not None:
                    found += self.of(arg, depth + 1)
        return found or [(None,)]


@functools.lru_cache(maxsize=1)
def raise_sites() -> tuple[Site, ...]:
    sites = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        messages = _Messages(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if name not in ERROR_CLASSES:
                continue
            for parts in messages.of(node.args[0]):
                if parts == WRAPPED or not any(p for p in parts):
                    continue  # another message passed through: not a site of its own
                sites.append(Site(str(path.relative_to(ROOT)), node.lineno, name, tuple(parts)))
    return tuple(sites)


def corpus_messages() -> dict[str, str]:
    out = {}
    for err in sorted(CORPUS.glob("*.err")):
        first = err.read_text(encoding="utf-8").split("\n", 1)[0]
        m = re.match(r"^.*?:\d+:\d+: error: (.*)$", first)
        if m:
            out[err.stem] = m.group(1)
    return out


@functools.lru_cache(maxsize=1)
def coverage() -> dict[str, list[str]]:
    """template -> the corpus cases whose message it matches (empty: not covered)."""
    messages = corpus_messages()
    result: dict[str, list[str]] = {}
    for site in raise_sites():
        pattern = site.pattern()
        cases = [case for case, msg in messages.items() if pattern.match(msg)]
        result.setdefault(site.template, [])
        result[site.template] = sorted(set(result[site.template]) | set(cases))
    return result


def test_the_scan_finds_the_raise_sites():
    templates = {s.template for s in raise_sites()}
    assert len(templates) > 200
    for known in ("unknown layer `{}`", "second `arch` header", "the result of `{}` is too large",
                  "{} needs a positive number of heads, e.g. wattn(3)", "cannot write `{}`: {}",
                  "unexpected character `{}`", "unexpected character {}", "--mode needs --compile",
                  "cannot {} branches: {}"):
        assert known in templates, known


def test_every_message_has_a_corpus_case_or_a_reason():
    cov = coverage()
    sites = raise_sites()
    missing = sorted({(s.template, f"{s.file}:{s.line}") for s in sites if not cov[s.template] and s.template not in EXEMPT})
    assert not missing, "messages without a tests/errors case (add NAME.arch + NAME.err, or a reason in EXEMPT):\n" + \
        "\n".join(f"  {t!r}  ({where})" for t, where in missing)


def test_exemptions_are_current_and_checked():
    cov = coverage()
    for template, (reason, test) in EXEMPT.items():
        assert template in cov, f"exempt message no longer raised anywhere: {template!r}"
        assert not cov[template], f"{template!r} is exempt but tests/errors covers it ({cov[template]}): drop the exemption"
        assert reason, template
        if test is None:
            assert reason.startswith(("dead:", "never shown:")), f"{template!r}: no test named, so say why it cannot be shown"
            continue
        file, _, name = test.partition("::")
        source = (ROOT / file).read_text(encoding="utf-8")
        assert any(isinstance(n, ast.FunctionDef) and n.name == name for n in ast.walk(ast.parse(source))), f"no test {test}"
        literal = max(template.split("{}"), key=len).strip(" `:;,.")
        assert literal in source, f"{test} does not mention {literal!r}"


def main() -> None:
    cov = coverage()
    sites = raise_sites()
    covered = [s for s in sites if cov[s.template]]
    exempt = [s for s in sites if s.template in EXEMPT]
    print(f"raise sites: {len(sites)} ({len(cov)} distinct messages)")
    print(f"  covered by tests/errors: {len(covered)} sites, {sum(1 for t in cov if cov[t])} messages")
    print(f"  exempt with a reason:    {len(exempt)} sites, {sum(1 for t in cov if t in EXEMPT)} messages")
    print(f"  neither:                 {len(sites) - len(covered) - len(exempt)} sites")


if __name__ == "__main__":
    main()
