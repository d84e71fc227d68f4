"""Text -> AST: the Lark parser for `grammars/arch.lark` and the tree-to-dataclass step.

Lark errors never leave this module: each becomes an `ArchError` pointing at the
offending character, with a human message for the common mistakes.
"""

from __future__ import annotations

import copy
import functools
import operator
import threading
from pathlib import Path

import lark
from lark import Lark, Token, Tree
from lark.indenter import DedentError, Indenter

from archdsl.errors import ArchError, Span
from archdsl.syntax import ast

SECTION_KINDS = ("stem", "down", "stage", "head")
STRUCT_KINDS = ("residual", "cat", "add", "dense", "patches", "aux", "split", "outputs")

# Friendly names for terminals in "expected ..." messages.
_TERMINAL_NAMES = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "STRING": "a string",
    "SHAPE": "a shape like 3x224x224",
    "LPAR": "`(`",
    "RPAR": "`)`",
    "LSQB": "`[`",
    "RSQB": "`]`",
    "COMMA": "`,`",
    "COLON": "`:`",
    "EQUAL": "`=`",
    "SLASH": "`/`",
    "_NL": "end of line",
    "_INDENT": "an indented line",
    "_DEDENT": "end of block",
    "REPEAT": "a repeat like x3",
    "XREP": "a repeat like x[3,3,9,3]",
    "SECTION": "stem/down/stage/head",
    "$END": "end of file",
}


class _ArchIndenter(Indenter):
    NL_type = "_NL"
    OPEN_PAREN_types = ["LPAR", "LSQB"]
    CLOSE_PAREN_types = ["RPAR", "RSQB"]
    INDENT_type = "_INDENT"
    DEDENT_type = "_DEDENT"
    tab_len = 8

    def process(self, stream):
        # The one instance inside the cached Lark parser is shared by every parse (and every
        # thread); lark's own `process` resets and then mutates its `paren_level` and
        # `indent_level`, so concurrent parses corrupted each other. Each parse gets its own
        # copy holding that state instead.
        run = copy.copy(self)
        run.paren_level = 0
        run.indent_level = [0]
        return run._process(stream)

    def _process(self, stream):
        # Lark's Indenter uses a bare assert for an unmatched closer; turn it into a
        # located error instead.
        for token in stream:
            if token.type in self.CLOSE_PAREN_types and self.paren_level == 0:
                raise _UnmatchedCloser(token)
            if token.type == self.NL_type:
                yield from self.handle_NL(token)
            else:
                yield token
            if token.type in self.OPEN_PAREN_types:
                self.paren_level += 1
            elif token.type in self.CLOSE_PAREN_types:
                self.paren_level -= 1
        while len(self.indent_level) > 1:
            self.indent_level.pop()
            yield Token(self.DEDENT_type, "")


class _UnmatchedCloser(Exception):
    def __init__(self, token: Token):
        self.token = token


def _grammar_text() -> str:
    # A source checkout's grammars/ wins (so a work tree tests its own grammar); an
    # installed wheel carries the file as the package `archdsl.grammars`.
    here = Path(__file__).resolve()
    source = here.parents[2] / "grammars" / "arch.lark"
    if source.exists():
        return source.read_text()
    return (here.parents[1] / "grammars" / "arch.lark").read_text()


_BUILD_LOCK = threading.Lock()


@functools.lru_cache(maxsize=1)
def _lark() -> Lark:
    """The one parser every parse uses. It holds no per-parse state (the indenter copies
    itself per parse; lark's lexer and parser states are per call), so threads share it;
    the lock only keeps two first calls from analysing the grammar twice at once."""
    with _BUILD_LOCK:
        return _built_lark()


@functools.lru_cache(maxsize=1)
def _built_lark() -> Lark:
    parser = _plain_lark()
    _shortcut_unit_rules(parser)
    _install_fast_driver(parser)
    return parser


def _plain_lark(cache: bool = True) -> Lark:
    text = _grammar_text()
    return Lark(
        text,
        parser="lalr",
        postlex=_ArchIndenter(),
        propagate_positions=True,
        maybe_placeholders=True,
        start=["start", "set_arg"],
        cache=(_cache_file(text) or False) if cache else False,
    )


def _cache_file(grammar: str) -> str | None:
    """Where lark keeps its analysed grammar between processes (the first parse in a
    process then takes ~10 ms instead of ~120 ms): a file in the user's own cache
    directory (`$XDG_CACHE_HOME/archdsl`, else `~/.cache/archdsl`, created private), never
    a shared temporary directory, since lark reads it back with pickle. The name carries a
    hash of the grammar and lark's version, and lark checks both again on loading; an
    unreadable, unwritable or corrupt file only means the grammar is analysed afresh.
    `ARCHDSL_NO_CACHE=1` turns it off."""
    import hashlib
    import os

    if os.environ.get("ARCHDSL_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "archdsl")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        st = os.stat(folder)
    except OSError:
        return None
    if hasattr(os, "getuid") and (st.st_uid != os.getuid() or st.st_mode & 0o022):
        return None  # someone else's folder, or writable by others: do not load pickles from it
    key = hashlib.sha256(f"{lark.__version__}\n{grammar}".encode()).hexdigest()[:20]
    return os.path.join(folder, f"grammar-{key}.lark")


def _is_unit_rule(rule) -> bool:
    """`?a: b` (one kept symbol, inlined when it has one child, no alias, no placeholder):
    lark's wrappers return that child unchanged (its positions already cover itself)."""
    if len(rule.expansion) != 1 or not rule.options.expand1 or rule.alias:
        return False
    if rule.options.empty_indices and any(rule.options.empty_indices):
        return False
    sym = rule.expansion[0]
    if sym.is_term:
        return not sym.filter_out or rule.options.keep_all_tokens
    return not sym.name.startswith("_")  # a `_rule` child would be spliced in


def _shortcut_unit_rules(parser: Lark) -> None:
    """Reduce unit rules without lark's tree-building wrappers (same tree, faster).

    The expression grammar is ten `?rule` levels deep, so every number or name in an
    expression is reduced about ten times; lark wraps each reduction in a child filter, a
    single-child expansion and position propagation, all of which return the child as it
    is for a unit rule. The parse table refers to this dict (lark 1.x keeps it as
    `_callbacks`); without it the parser stays as lark built it.
    """
    callbacks = getattr(parser, "_callbacks", None)
    if not isinstance(callbacks, dict):  # pragma: no cover - another lark layout
        return
    first = operator.itemgetter(0)
    for rule in list(callbacks):
        if not isinstance(rule, str) and _is_unit_rule(rule):
            callbacks[rule] = first


def _install_fast_driver(parser: Lark) -> None:
    """Run lark's LALR table with a tighter loop (same table, same callbacks, same tree).

    lark's `ParserState.feed_token` looks each reduction's rule up by a Python-level
    `Rule.__eq__`/`__hash__` and its goto by a `Token`-named key; this loop reads one
    precomputed entry per step instead. Any token the table has no entry for (a syntax
    error) is handed to lark's own `feed_token` on the very same stacks, so errors, their
    parser state and `accepts` are exactly lark's. Without lark 1.x's layout nothing changes.
    """
    try:
        from lark.parsers.lalr_analysis import Shift
        from lark.parsers.lalr_parser import _Parser
        from lark.parsers.lalr_parser_state import ParserState
    except ImportError:  # pragma: no cover - another lark layout
        return
    lalr = getattr(getattr(parser, "parser", None), "parser", None)
    inner = getattr(lalr, "parser", None)
    callbacks = getattr(parser, "_callbacks", None)
    if type(inner) is not _Parser or not isinstance(callbacks, dict) or any(isinstance(k, str) for k in callbacks):
        return  # pragma: no cover - lexer callbacks or another layout: keep lark's loop
    table: dict = {}
    for state, row in inner.parse_table.states.items():
        fast = table[state] = {}
        for key, (action, arg) in row.items():
            if action is Shift:
                fast[str(key)] = arg
            else:
                fast[str(key)] = (len(arg.expansion), callbacks[arg], str(arg.origin.name))

    class _FastState(ParserState):
        __slots__ = ()

        def feed_token(self, token: Token, is_end: bool = False):
            state_stack = self.state_stack
            value_stack = self.value_stack
            while True:
                entry = table[state_stack[-1]].get(token.type)
                if entry is None or (is_end and entry.__class__ is not tuple):
                    return ParserState.feed_token(self, token, is_end)  # lark raises its error
                if entry.__class__ is not tuple:  # shift
                    state_stack.append(entry)
                    value_stack.append(token)
                    return None
                size, callback, origin = entry
                if size:
                    children = value_stack[-size:]
                    del state_stack[-size:]
                    del value_stack[-size:]
                else:
                    children = []
                value = callback(children)
                state_stack.append(table[state_stack[-1]][origin])
                value_stack.append(value)
                if is_end and state_stack[-1] == self.parse_conf.end_state:
                    return value_stack[-1]

    class _FastParser(_Parser):
        def parse(self, lexer, start, value_stack=None, state_stack=None, start_interactive=False):
            from lark.parsers.lalr_parser_state import ParseConf

            if start_interactive:
                return super().parse(lexer, start, value_stack, state_stack, start_interactive)
            state = _FastState(ParseConf(self.parse_table, self.callbacks, start), lexer, state_stack, value_stack)
            return self.parse_from_state(state)

    lalr.parser = _FastParser(inner.parse_table, inner.callbacks, inner.debug)


def parse_text(text: str, file: str = "<string>") -> ast.Program:
    """Parse `.arch` source text into an `ast.Program`, with its `use` imports resolved."""
    from archdsl.syntax.imports import resolve_uses

    return resolve_uses(parse_source(text, file))


def parse_source(text: str, file: str = "<string>", library: bool = False) -> ast.Program:
    """Parse one file without following its `use` lines; a `library` has no `arch` header."""
    if "\x00" in text:
        pos = text.index("\x00")
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        raise ArchError("binary data in source file", _span(file, text, line, col), "an .arch file is plain text")
    if not text.endswith("\n"):
        text += "\n"
    _check_nesting(text, file)
    try:
        tree = _lark().parse(text, start="start")
    except _UnmatchedCloser as e:
        tok = e.token
        raise ArchError(f"unmatched `{tok}`", _span(file, text, tok.line, tok.column), "remove it, or add the opening bracket") from None
    except DedentError as e:
        line = _dedent_line(text)
        raise ArchError("inconsistent indentation", _span(file, text, line, 1), "indent block bodies with the same number of spaces") from None
    except lark.exceptions.UnexpectedInput as e:
        raise _syntax_error(e, text, file) from None
    try:
        return _Builder(file, text).program(tree, library)
    except RecursionError:
        raise ArchError("the program nests too deeply", _span(file, text, 1, 1), "split long expressions with `let`") from None


MAX_NESTING = 64


def _check_nesting(text: str, file: str) -> None:
    """Refuse absurdly nested brackets up front (the tree builder is recursive)."""
    depth, line, col, in_comment = 0, 1, 0, False
    for ch in text:
        col += 1
        if ch == "\n":
            line, col, in_comment = line + 1, 0, False
        elif in_comment:
            continue
        elif ch == "#":
            in_comment = True
        elif ch in "([":
            depth += 1
            if depth > MAX_NESTING:
                raise ArchError(f"brackets nest deeper than {MAX_NESTING} levels", _span(file, text, line, col),
                                "flatten the expression, or name parts of it with `let`")
        elif ch in ")]":
            depth -= 1


def parse_set_arg(text: str) -> tuple[str, ast.Expr, Span]:
    """Parse one `--set NAME=VALUE` argument; errors point into the pseudo-file `--set`."""
    file = "--set"
    if "=" not in text:
        raise ArchError(f"`--set {text}` needs the form NAME=VALUE", Span(file, 1, 1, max(1, len(text)), text),
                        "e.g. --set depths=[2,2,6,2] or --set classes=10")
    try:
        tree = _lark().parse(text + "\n", start="set_arg")
    except _UnmatchedCloser as e:
        raise ArchError(f"unmatched `{e.token}`", _span(file, text, 1, e.token.column)) from None
    except lark.exceptions.UnexpectedInput as e:
        raise _syntax_error(e, text + "\n", file) from None
    b = _Builder(file, text)
    name_tok = tree.children[0]
    return str(name_tok), b.expr(tree.children[1]), b.span_tok(name_tok)


def _dedent_line(text: str) -> int:
    """Best guess at the line whose dedent did not match any enclosing indent."""
    levels = [0]
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        ind = len(line.expandtabs(8)) - len(line.expandtabs(8).lstrip())
        if ind > levels[-1]:
            levels.append(ind)
        else:
            while ind < levels[-1]:
                levels.pop()
            if ind != levels[-1]:
                return n
    return 1


def _span(file: str, text: str, line: int, column: int, length: int = 1) -> Span:
    lines = text.splitlines()
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    return Span(file, line, column, length, src)


def _syntax_error(e: lark.exceptions.UnexpectedInput, text: str, file: str) -> ArchError:
    line, col = getattr(e, "line", 1) or 1, getattr(e, "column", 1) or 1
    if isinstance(e, lark.exceptions.UnexpectedCharacters):
        ch = text[e.pos_in_stream] if e.pos_in_stream < len(text) else "?"
        hint = None
        if ch == "\t":
            hint = "use spaces"
        elif ch in "{}":
            hint = "blocks are indented, not braced; lists use [ ]"
        elif ch == '"':
            hint = "strings end on the same line with a closing `\"`"
        msg = f"unexpected character `{ch}`" if ch.isprintable() else f"unexpected character {ch!r}"
        return ArchError(msg, _span(file, text, line, col), hint)
    if isinstance(e, lark.exceptions.UnexpectedEOF):
        lines = text.rstrip("\n").splitlines() or [""]
        return ArchError("unexpected end of file", _span(file, text, len(lines), len(lines[-1]) + 1), "a bracket or block is not closed")
    assert isinstance(e, lark.exceptions.UnexpectedToken)
    tok = e.token
    if tok.type == "$END":
        lines = text.rstrip("\n").splitlines() or [""]
        return ArchError("unexpected end of file", _span(file, text, len(lines), len(lines[-1]) + 1), "a bracket or block is not closed")
    expected = sorted({_TERMINAL_NAMES.get(t, f"`{t.lower()}`") for t in e.expected if not t.startswith("__")})
    what = _describe_token(tok)
    hint = _hint_for(tok, e.expected) or _example_hint(e)
    if hint is None and expected:
        hint = "expected " + ", ".join(expected[:6]) + (" or more" if len(expected) > 6 else "")
    length = max(1, len(str(tok))) if tok.type not in ("_NL", "_INDENT", "_DEDENT") else 1
    if tok.type == "_INDENT":  # point at the indented line itself
        line = min(tok.line + 1, len(text.splitlines()))
        src = text.splitlines()[line - 1]
        col, length = 1, max(1, len(src) - len(src.lstrip()))
    if tok.type == "_NL":  # point after the last character of the line
        line = tok.line
        src = text.splitlines()[line - 1] if line <= len(text.splitlines()) else ""
        col = len(src.rstrip()) + 1
    return ArchError(f"unexpected {what}", _span(file, text, line, col, length), hint)


# Typical mistakes, as lark's `match_examples` wants them: a hint and small programs that
# fail the same way. A new error is labelled by the example failing in the same parser
# state on the same kind of token, so one example covers every program with that slip.
_H = "arch a(x=1)\ninput 3x8x8\n"
SYNTAX_EXAMPLES = {
    "an argument list is not closed: add `)` after the last argument": [
        _H + "stem conv3(16 bn\n", _H + "stem conv3(16, g=2 relu\n"],
    "list items are separated by commas, e.g. [3, 3, 9, 3]": [
        _H + "let y = [1 2]\n", _H + "stage relu x[1 2]\n"],
    "the first line is `arch NAME(param=default, ...)`": ["arch (x=1)\n", "arch a x=1\n", "arch a 1\n", "arch\n"],
    "a variant is `variant NAME param=value ...`": [
        _H + "stem relu\nvariant v x 2\n", _H + "stem relu\nvariant x=2\n"],
    "a binding is `let NAME = expression`": [_H + "let y 3\n", _H + "let y [3]\n", _H + "let y x\n", _H + "let = 3\n"],
    "arguments are separated by commas; keywords are written `name=value`": [_H + "stem conv3(out 16)\n"],
}


def _example_hint(e: lark.exceptions.UnexpectedToken) -> str | None:
    """lark's `match_examples`, made strict where it matters: the same LALR state (not the
    same stack depth, so the slip is found in any context), the same tokens acceptable
    there, and the same kind of unexpected token. (lark 1.3.1's own version also takes a
    bare state match, which mislabels unrelated slips, and its debug logging crashes when
    two examples share a state with different accepts.)"""
    for label, state, accepts, kind in _example_failures():
        if state == e.state.position and kind == e.token.type and accepts == frozenset(e.accepts):
            return label
    return None


@functools.lru_cache(maxsize=1)
def _example_failures() -> list[tuple[str, object, frozenset, str]]:
    out = []
    for label, examples in SYNTAX_EXAMPLES.items():
        for text in examples:
            try:
                _lark().parse(text, start="start")
            except lark.exceptions.UnexpectedToken as ut:
                out.append((label, ut.state.position, frozenset(ut.accepts), ut.token.type))
            else:  # a test checks every example fails; never let one silently stop mattering
                raise AssertionError(f"syntax example parses: {text!r}")
    return out


def _describe_token(tok: Token) -> str:
    if tok.type == "_NL":
        return "end of line"
    if tok.type == "_INDENT":
        return "indentation"
    if tok.type == "_DEDENT":
        return "end of block"
    return f"`{tok}`"


def _hint_for(tok: Token, expected: set[str]) -> str | None:
    if tok.type == "_INDENT":
        return "only block bodies (after `block NAME:` or `residual:`) are indented"
    if tok.type in ("RPAR", "RSQB") and tok.type not in expected:
        return "this closing bracket has no opening one"
    if tok.type == "COMMA" and "COMMA" not in expected:
        return "layers in a chain are separated by spaces, not commas"
    if tok.type == "_NL" and "COLON" in expected:
        return "a block header ends with `:`"
    if tok.type == "_NL" and ("RPAR" in expected or "RSQB" in expected):
        return "a bracket is not closed"
    if tok.type == "COLON":
        return "`:` follows `block NAME(...)` or a structure word: residual, cat, add, dense"
    return None


# ---- tree -> AST ------------------------------------------------------------
class _Builder:
    def __init__(self, file: str, text: str):
        self.file = file
        self.text = text
        self.lines = text.splitlines()

    def span_tok(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, max(1, len(str(tok))), self._line(tok.line))

    def span_tree(self, tree: Tree) -> Span:
        meta = tree.meta
        if getattr(meta, "empty", True):
            return Span(self.file, 1, 1, 1, self._line(1))
        length = meta.end_column - meta.column if meta.end_line == meta.line else len(self._line(meta.line)) - meta.column + 1
        return Span(self.file, meta.line, meta.column, max(1, length), self._line(meta.line))

    @staticmethod
    def int_literal(digits: str, span: Span) -> int:
        # checked before int(): Python refuses to convert more than 4,300 digits
        if len(digits.lstrip("0")) > len(str(ast.MAX_INT)) or int(digits) > ast.MAX_INT:
            raise ArchError("number too large", span, f"integers stay within ±{ast.MAX_INT:,} (64 bits)")
        return int(digits)

    @staticmethod
    def float_literal(text: str, span: Span) -> float:
        v = float(text)
        if v == float("inf"):  # 1e999
            raise ArchError("number too large", span, "decimals stay within ±1.8e308")
        return v

    def _line(self, n: int) -> str:
        return self.lines[n - 1] if 0 < n <= len(self.lines) else ""

    def span_of(self, node) -> Span:
        return self.span_tok(node) if isinstance(node, Token) else self.span_tree(node)

    # -- program
    def program(self, tree: Tree, library: bool = False) -> ast.Program:
        name, params, inp, init = None, [], None, None
        defaults, lets, blocks, sections, variants, uses = [], [], {}, [], {}, []
        shared: dict[str, ast.Shared] = {}
        arch_span = Span(self.file, 1, 1, 1, self._line(1))
        for st in tree.children:
            kind = st.data
            if library and kind not in ("block_def", "use_decl"):
                raise ArchError("a block library holds only `block` definitions and `use` lines", self.span_tree(st),
                                "move this line into the file that uses the library")
            if kind == "use_decl":
                tok = st.children[0]
                uses.append(ast.Use(str(tok)[1:-1], self.span_tok(tok)))
            elif kind == "arch_decl":
                if name is not None:
                    raise ArchError("second `arch` header", self.span_tree(st), "one file describes one architecture")
                name_tok = st.children[0]
                name = str(name_tok)
                arch_span = self.span_tok(name_tok)
                params = [self.param(p) for p in st.children[1:] if p is not None]
                seen: dict[str, ast.Param] = {}
                for p in params:
                    if p.name in seen:
                        raise ArchError(f"parameter `{p.name}` declared twice", p.span, f"first declared at line {seen[p.name].span.line}")
                    seen[p.name] = p
            elif kind == "input_decl":
                if inp is not None:
                    raise ArchError("second `input` line", self.span_tree(st), "declare the input shape once")
                inp = self.input_decl(st)
            elif kind == "init_decl":
                args, kwargs, _ = self.call_args(st.children[1]) if st.children[1] is not None else ([], {}, {})
                init = ast.InitDecl(str(st.children[0]), args, kwargs, self.span_tok(st.children[0]))
            elif kind == "default_decl":
                args, kwargs, _ = self.call_args(st.children[1])
                if args:
                    raise ArchError("`default` takes keyword values only", self.span_tree(st.children[1]), "write e.g. `default ln(eps=1e-6)`")
                defaults.append(ast.Default(str(st.children[0]), kwargs, self.span_tok(st.children[0])))
            elif kind == "let_decl":
                lets.append(ast.Let(str(st.children[0]), self.expr(st.children[1]), self.span_tok(st.children[0])))
            elif kind == "shared_decl":
                tok = st.children[0]
                if str(tok) in shared:
                    raise ArchError(f"shared layer `{tok}` declared twice", self.span_tok(tok),
                                    f"first declared at line {shared[str(tok)].span.line}")
                shared[str(tok)] = ast.Shared(str(tok), self.layer(st.children[1]), self.span_tok(tok))
            elif kind == "block_def":
                b = self.block_def(st)
                if b.name in blocks:
                    raise ArchError(f"block `{b.name}` defined twice", b.span, f"first defined at line {blocks[b.name].span.line}")
                blocks[b.name] = b
            elif kind == "section":
                sections.append(self.section(st))
            elif kind == "variant":
                v = self.variant(st)
                if v.name in variants:
                    raise ArchError(f"variant `{v.name}` defined twice", v.span, f"first defined at line {variants[v.name].span.line}")
                variants[v.name] = v
            else:  # pragma: no cover - grammar and builder out of sync
                raise RuntimeError(f"unhandled statement {kind}")
        if library:
            return ast.Program(self.file, self.text, "", [], None, None, [], [], blocks, [], {}, arch_span, uses)
        if name is None:
            first = next((i for i, l in enumerate(self.lines, 1) if l.strip() and not l.strip().startswith("#")), 1)
            raise ArchError("missing `arch NAME(...)` header", Span(self.file, first, 1, 1, self._line(first)),
                            "start the file with e.g. `arch mynet(classes=1000)`")
        return ast.Program(self.file, self.text, name, params, inp, init, defaults, lets, blocks, sections, variants, arch_span, uses,
                           shared)

    def param(self, t: Tree) -> ast.Param:
        if t.data == "required_param":
            tok = t.children[0]
            return ast.Param(str(tok), None, None, self.span_tok(tok))
        name_tok, type_tree, default = t.children
        typ = None
        if type_tree is not None:
            base, inner = type_tree.children
            typ = f"{base}[{inner}]" if inner is not None else str(base)
        return ast.Param(str(name_tok), typ, self.expr(default), self.span_tok(name_tok))

    def input_decl(self, t: Tree) -> ast.InputDecl:
        kids = [k for k in t.children if k is not None]
        if len(kids) == 1 and isinstance(kids[0], Token) and kids[0].type == "SHAPE":
            tok = kids[0]
            parts = str(tok).split("x")
            span = self.span_tok(tok)
            dims: list[ast.Expr] = []
            col = tok.column
            for p in parts:
                dims.append(ast.Num(self.int_literal(p, Span(self.file, tok.line, col, len(p), span.source_line)),
                                    Span(self.file, tok.line, col, len(p), span.source_line)))
                col += len(p) + 1
            return ast.InputDecl(dims, span)
        return ast.InputDecl([self.expr(k) for k in kids], self.span_tree(t))

    def block_def(self, t: Tree) -> ast.BlockDef:
        name_tok = t.children[0]
        params, body = [], []
        for c in t.children[1:]:
            if c is None:
                continue
            if c.data in ("required_param", "param"):
                params.append(self.param(c))
            else:
                body.append(self.line(c))
        return ast.BlockDef(str(name_tok), params, body, self.span_tok(name_tok))

    def line(self, t: Tree) -> ast.Line:
        if t.data == "chain_line":
            return self.chain(t.children[0])
        if t.data.startswith("value_"):  # `name = line`: the rest is a chain or a structure line
            name_tok = t.children[0]
            rest = Tree(t.data.replace("value_", "struct_") if t.data != "value_chain" else "chain_line", t.children[1:], t.meta)
            return ast.Value(str(name_tok), self.line(rest), self.span_tok(name_tok))
        name_tok, args_tree = t.children[0], t.children[1]
        args, kwargs, _ = self.call_args(args_tree) if args_tree is not None else ([], {}, {})
        if t.data == "struct_inline":
            body = [self.chain(t.children[2])]
        else:
            body = [self.line(c) for c in t.children[2:]]
        kind = str(name_tok)
        if kind not in STRUCT_KINDS:
            from archdsl.errors import did_you_mean

            raise ArchError(f"unknown structure `{kind}:`", self.span_tok(name_tok),
                            did_you_mean(kind, STRUCT_KINDS) or "structures are " + ", ".join(f"`{k}:`" for k in STRUCT_KINDS))
        return ast.Struct(kind, args, kwargs, body, self.span_tok(name_tok))

    def section(self, t: Tree) -> ast.Section:
        kind_tok = t.children[0]
        return ast.Section(str(kind_tok), self.chain(t.children[1]), self.span_tok(kind_tok))

    def variant(self, t: Tree) -> ast.Variant:
        name_tok = t.children[0]
        assigns = []
        for a in t.children[1:]:
            assigns.append(ast.Assign(str(a.children[0]), self.expr(a.children[1]), self.span_tok(a.children[0])))
        return ast.Variant(str(name_tok), assigns, self.span_tok(name_tok))

    # -- chains
    def chain(self, t: Tree) -> ast.Chain:
        return ast.Chain([self.item(c) for c in t.children], self.span_tree(t))

    def item(self, t: Tree) -> ast.Item:
        if t.data in ("layer", "layer_late_stride"):
            return self.layer(t)
        if t.data == "group":
            inner = t.children[0] if t.children else None  # `[]`: the identity branch
            chain = self.chain(inner) if inner is not None else ast.Chain([], self.span_tree(t))
            return ast.Group(chain, self.span_tree(t))
        if t.data == "repeated":
            item = self.item(t.children[0])
            rep = t.children[1]
            if isinstance(rep, Tree) and rep.data == "repeat_int":  # the alias wraps the REPEAT token
                rep = rep.children[0]
            if isinstance(rep, Token):  # REPEAT: x3
                count = ast.Num(self.int_literal(str(rep)[1:], self.span_tok(rep)), self.span_tok(rep))
                return ast.Repeat(item, count, False, self.span_tok(rep))
            count = self.expr(rep.children[1])
            return ast.Repeat(item, count, rep.data == "repeat_list", self.span_tree(rep))
        if t.data == "option":
            return ast.Option(str(t.children[0]), self.expr(t.children[1]), self.span_tok(t.children[0]))
        raise RuntimeError(f"unhandled item {t.data}")  # pragma: no cover

    def layer(self, t: Tree) -> ast.Layer:
        word = t.children[0]
        if t.data == "layer":
            stride_t, args_t = t.children[1], t.children[2]
        else:
            args_t, stride_t = t.children[1], t.children[2]
        stride = None
        if stride_t is not None:
            s = stride_t.children[0]
            stride = ast.Num(self.int_literal(str(s), self.span_tok(s)), self.span_tok(s)) if s.type == "INT" else ast.Name(str(s), self.span_tok(s))
        args, kwargs, kwspans = self.call_args(args_t) if args_t is not None else ([], {}, {})
        return ast.Layer(str(word), stride, args, kwargs, self.span_tok(word), kwspans)

    def call_args(self, t: Tree):
        args, kwargs, spans = [], {}, {}
        for a in t.children:
            if a is None:
                continue
            if isinstance(a, Tree) and a.data == "kwarg":
                k = str(a.children[0])
                if k in kwargs:
                    raise ArchError(f"argument `{k}` given twice", self.span_tok(a.children[0]))
                kwargs[k] = self.expr(a.children[1])
                spans[k] = self.span_tok(a.children[0])
            else:
                if kwargs:
                    raise ArchError("positional argument after a keyword argument", self.span_of(a), "put positional values first")
                args.append(self.expr(a))
        return args, kwargs, spans

    # -- expressions
    _BINOPS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%", "pow": "**"}

    def expr(self, t) -> ast.Expr:
        if isinstance(t, Token):  # bare NAME tokens appear in a few places
            return ast.Name(str(t), self.span_tok(t))
        d = t.data
        if d == "int_lit":
            return ast.Num(self.int_literal(str(t.children[0]), self.span_tok(t.children[0])), self.span_tok(t.children[0]))
        if d == "float_lit":
            return ast.Num(self.float_literal(str(t.children[0]), self.span_tok(t.children[0])), self.span_tok(t.children[0]))
        if d == "str_lit":
            tok = t.children[0]
            return ast.Str(str(tok)[1:-1], self.span_tok(tok))
        if d == "name":
            return ast.Name(str(t.children[0]), self.span_tok(t.children[0]))
        if d == "list":
            return ast.ListExpr([self.expr(c) for c in t.children if c is not None], self.span_tree(t))
        if d in self._BINOPS:
            return ast.BinOp(self._BINOPS[d], self.expr(t.children[0]), self.expr(t.children[1]), self.span_tree(t))
        if d == "neg":
            return ast.Neg(self.expr(t.children[0]), self.span_tree(t))
        if d == "index":
            return ast.Index(self.expr(t.children[0]), self.expr(t.children[1]), self.span_tree(t))
        if d == "call":
            return ast.Call(str(t.children[0]), [self.expr(c) for c in t.children[1:] if c is not None], self.span_tok(t.children[0]))
        if d == "compare":
            return ast.Compare(str(t.children[1]), self.expr(t.children[0]), self.expr(t.children[2]), self.span_tree(t))
        if d in ("and_op", "or_op"):
            return ast.BoolOp(d[:-3], self.expr(t.children[0]), self.expr(t.children[1]), self.span_tree(t))
        if d == "not_op":
            return ast.Not(self.expr(t.children[0]), self.span_tree(t))
        if d == "ifexpr":
            then, cond, other = t.children
            return ast.IfExpr(self.expr(cond), self.expr(then), self.expr(other), self.span_tree(t))
        if d == "comprehension":
            item, var, source, cond = t.children
            return ast.Comprehension(self.expr(item), str(var), self.expr(source),
                                     self.expr(cond) if cond is not None else None, self.span_tree(t))
        raise RuntimeError(f"unhandled expression {d}")  # pragma: no cover
