"""Hints for the mistakes people bring from PyTorch and timm (torch-free).

`linear` for `fc`, `stride=2` for the `/2` suffix, `groups=` for `g=`, `steam` for `stem`,
`residual` without its colon, a named value used above the line that defines it: each
gets a message or hint that names the archdsl spelling, not only "unknown".
"""

from __future__ import annotations

from dataclasses import replace

from archdsl.errors import ArchError, Span, did_you_mean
from archdsl.syntax import ast

STRUCT_KINDS = ("residual", "cat", "add", "dense", "patches", "aux", "split", "outputs")

# statement keywords: the first word of a top-level line
KEYWORDS = ("arch", "use", "input", "init", "default", "let", "shared", "block", "stem", "down", "stage", "head", "variant")

# layer names from PyTorch/timm/papers -> the archdsl token
LAYER_ALIASES = {
    "linear": "fc(n)", "dense_layer": "fc(n)", "classifier": "fc(n)",
    "conv2d": "conv3(c)", "convolution": "conv3(c)",
    "depthwise": "dw3", "dwconv": "dw3", "pointwise": "pw(c)",
    "batchnorm": "bn", "batchnorm2d": "bn", "batch_norm": "bn",
    "layernorm": "ln", "layer_norm": "ln", "groupnorm": "gn(groups=32)", "group_norm": "gn(groups=32)",
    "maxpool2d": "maxpool3/2", "avgpool2d": "avgpool2/2", "adaptiveavgpool2d": "gap", "avg_pool": "gap", "global_pool": "gap",
    "swish": "silu", "hardswish": "hswish", "hard_swish": "hswish", "hardsigmoid": "hsigmoid", "hard_sigmoid": "hsigmoid",
    "attention": "mhsa(heads=...)", "attn": "mhsa(heads=...)", "self_attention": "mhsa(heads=...)", "msa": "mhsa(heads=...)",
    "squeeze_excite": "se0.25", "squeeze_excitation": "se0.25", "seblock": "se0.25",
    "drop": "dropout(p=0.1)", "patchify": "patch_embed(c, size=16)", "patch": "patch_embed(c, size=16)",
}
_DROP_PATH = ("drop_path", "droppath", "stochastic_depth")

# keyword arguments from PyTorch -> how archdsl writes them
KWARG_ALIASES = {
    "groups": "groups are `g=`: `conv3(c, g=32)`; `dw3` is depthwise",
    "padding": "padding is `p=` (the default keeps ceil(H/stride))",
    "dilation": "dilation is `d=`",
    "kernel_size": "the kernel is the size suffix: `conv3`, `conv1x7`",
    "kernel": "the kernel is the size suffix: `conv3`, `conv1x7`",
    "in_channels": "input channels come from the previous layer: drop it",
    "in_features": "input features come from the previous layer: drop it",
    "out_channels": "output channels are the first positional argument: `conv3(64)`",
    "out_features": "output features are the first positional argument: `fc(1000)`",
    "num_heads": "the number of heads is `heads=`",
}


def kwarg_hint(spec, name: str, word: str) -> str | None:
    """A hint for `word(..., name=...)` when the layer has no argument `name`."""
    if name in ("stride", "strides"):
        return f"a stride is a suffix after the token: `{word}/2(...)`, or `{word}/s(...)` with a name" if spec.strided \
            else f"`{spec.name}` takes no stride"
    hint = KWARG_ALIASES.get(name)
    if hint is None:
        return None
    if name == "groups" and spec.arg("g") is None:
        return None
    if name == "num_heads" and spec.arg("heads") is None:
        return None
    return hint


def alias_hint(word: str) -> str | None:
    """A hint for an unknown layer word that is another library's name for an archdsl token."""
    low = word.lower()
    if word in STRUCT_KINDS:
        return f"`{word}` is a structure and takes a colon: `{word}: ...`"
    if low in _DROP_PATH:
        return "stochastic depth is an option of residuals: `residual(drop=0.1):`, or for every stage block `default residual(drop=0.1)`"
    if low in LAYER_ALIASES:
        form = LAYER_ALIASES[low]
        return f"did you mean `{form.split('(')[0].rstrip('0123456789./')}`? archdsl writes it `{form}` (`archdsl ops` lists the layers)"
    return None


def keyword_hint(word: str) -> str | None:
    """`steam` -> did you mean `stem`?  (for a top-level line's first word)"""
    return did_you_mean(word, KEYWORDS)


def later_value(program: ast.Program, layer: ast.Layer) -> ast.Value | None:
    """The named value `h = ...` that `layer` (a word no layer kind knows) refers to, when it is
    defined further down the same block body: used before its definition."""
    for block in program.blocks.values():
        if _contains(block.body, layer):
            for line in block.body:
                if isinstance(line, ast.Value) and line.name == layer.word and _after(line.span, layer.span):
                    return line
    return None


def later_let(program: ast.Program) -> tuple[ast.Name, ast.Let] | None:
    """A `let` that reads a name bound only by a later `let` (lets are computed in order)."""
    params = {p.name for p in program.params}
    for i, let in enumerate(program.lets):
        later = {other.name: other for other in program.lets[i:] if other.name not in params}
        bound = {other.name for other in program.lets[:i]}
        for name in expr_names(let.value):
            if name.id in later and name.id not in bound:
                return name, later[name.id]
    return None


def check_let_order(program: ast.Program) -> None:
    """`let a = b * 2` above `let b = 8`: lets are computed top to bottom."""
    found = later_let(program)
    if found is not None:
        name, let = found
        raise ArchError(used_before(name.id, replace(let.span, column=1)), name.span,
                        f"`let` lines are computed top to bottom: move `let {let.name}` above line {name.span.line}")


def tab_error(text: str, file: str, line: int) -> ArchError | None:
    """An indentation error caused by a tab: the tab on this line, or on an indented line just
    above it (back to the last unindented line)."""
    lines = text.splitlines()
    for n in range(min(line, len(lines)), 0, -1):
        src = lines[n - 1]
        indent = src[: len(src) - len(src.lstrip(" \t"))]
        if "\t" in indent:
            return ArchError("a tab in the indentation", Span(file, n, indent.index("\t") + 1, 1, src),
                             "indent with spaces only: a tab counts as 8 columns, so this line does not line up with "
                             "the lines around it; replace the tab with spaces")
        if src.strip() and not indent and not src.lstrip().startswith("#") and n < line:
            break
    return None


def used_before(what: str, span: Span) -> str:
    return f"`{what}` is used before its definition at {span.line}:{span.column}"


def _after(a: Span, b: Span) -> bool:
    return a.file == b.file and (a.line, a.column) > (b.line, b.column)


def _contains(node, target) -> bool:
    if node is target:
        return True
    if isinstance(node, list):
        return any(_contains(n, target) for n in node)
    if isinstance(node, (ast.Chain,)):
        return _contains(node.items, target)
    if isinstance(node, (ast.Group,)):
        return _contains(node.chain, target)
    if isinstance(node, ast.Repeat):
        return _contains(node.item, target)
    if isinstance(node, ast.Struct):
        return _contains(node.body, target)
    if isinstance(node, ast.Value):
        return _contains(node.line, target)
    return False


def expr_names(e) -> list[ast.Name]:
    """Every free name an expression reads (a comprehension's own variable excluded)."""
    out: list[ast.Name] = []

    def walk(x, bound: frozenset) -> None:
        if isinstance(x, ast.Name):
            if x.id not in bound:
                out.append(x)
        elif isinstance(x, ast.Comprehension):
            walk(x.source, bound)
            inner = bound | {x.var}
            walk(x.item, inner)
            if x.cond is not None:
                walk(x.cond, inner)
        elif isinstance(x, (ast.Num, ast.Str)) or x is None:
            return
        else:
            for v in vars(x).values():
                if isinstance(v, list):
                    for item in v:
                        walk(item, bound)
                elif isinstance(v, ast.Expr.__args__):  # type: ignore[attr-defined]
                    walk(v, bound)

    walk(e, frozenset())
    return out


def unknown_layer(program: ast.Program, layer: ast.Layer):
    """The error for a layer word no layer kind knows: a named value used too early, another
    library's spelling, a close token or block name, else a pointer to `archdsl ops`."""
    from archdsl import ops
    if layer.word in STRUCT_KINDS:
        line = layer.span.source_line.strip()
        fixed = line.replace(layer.word, layer.word + ":", 1) if line.startswith(layer.word) else f"{layer.word}: ..."
        return ArchError(f"`{layer.word}` is a structure and needs a colon", layer.span, f"write `{fixed}`")
    value = later_value(program, layer)
    if value is not None:
        return ArchError(used_before(layer.word, value.span), layer.span,
                         f"a named value can be used on the lines below `{value.name} = ...`; move this line under it")
    hint = (alias_hint(layer.word) or did_you_mean(layer.word, [*program.layers, *program.blocks])  # the file's own names first
            or ops.suggest(layer.word))
    return ArchError(f"unknown layer `{layer.word}`", layer.span, hint or "`archdsl ops` lists the layer tokens (docs/language.md too)")
