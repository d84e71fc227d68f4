"""Text -> lark parse tree for `grammars/arch.lark` (the tree becomes an AST in `builder.py`).

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
from lark import Lark, Token
from lark.indenter import DedentError, Indenter

from archdsl.errors import ArchError, Span
from archdsl.syntax import ast
from archdsl.syntax.builder import SECTION_KINDS, STRUCT_KINDS, Builder  # noqa: F401 - re-exported
from archdsl.syntax.hints import keyword_hint, tab_error

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


def parse_source(text: str, file: str = "<string>", library: bool | None = False) -> ast.Program:
    """Parse one file without following its `use` lines; a `library` has no `arch` header
    (`library=None`: the file is a library exactly when it has no `arch` header)."""
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
    except DedentError:
        line = _dedent_line(text)
        tab = tab_error(text, file, line)
        if tab is not None:
            raise tab from None
        raise ArchError("inconsistent indentation", _span(file, text, line, 1), "indent block bodies with the same number of spaces") from None
    except lark.exceptions.UnexpectedInput as e:
        raise _syntax_error(e, text, file) from None
    if library is None:
        library = not any(st.data == "arch_decl" for st in tree.children)
    try:
        return Builder(file, text).program(tree, library)
    except RecursionError:
        raise ArchError("the program nests too deeply", _span(file, text, 1, 1), "split long expressions with `let`") from None


def source_tokens(text: str) -> list[Token]:
    """The tokens the parser reads from a well-formed file, in order, with their positions:
    keywords, names, numbers and punctuation as lark's contextual lexer found them, and the
    indentation post-lexer's `_NL`/`_INDENT`/`_DEDENT` (comments ride inside `_NL`; blanks and
    `\\` line joins are skipped). For the formatter, so it never re-lexes the language
    its own way; call `parse_source` first (this one does not turn lark's errors into
    ArchErrors)."""
    if not text.endswith("\n"):
        text += "\n"
    interactive = _lark().parse_interactive(text, start="start")
    tokens = list(interactive.iter_parse())
    interactive.feed_eof(tokens[-1] if tokens else None)  # a check that the stream was the whole file
    return tokens


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
    b = Builder(file, text)
    *names, value = tree.children  # `ln.eps=1e-5`: a layer's argument, as a `default` line names it
    span = b.span_tok(names[0])
    span = Span(span.file, span.line, span.column, names[-1].end_column - names[0].column, span.source_line)
    return ".".join(map(str, names)), b.expr(value), span


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
    expected = sorted({_TERMINAL_NAMES.get(t, f"`{t.lower().lstrip('_')}`") for t in e.expected if not t.startswith("__")})
    what = _describe_token(tok)
    hint = _hint_for(tok, e.expected) or _example_hint(e)
    if hint is None and expected:
        hint = "expected " + ", ".join(expected[:6]) + (" or more" if len(expected) > 6 else "")
    length = max(1, len(str(tok))) if tok.type not in ("_NL", "_INDENT", "_DEDENT") else 1
    if tok.type == "_INDENT":  # point at the indented line itself
        line = min(tok.line + 1, len(text.splitlines()))
        src = text.splitlines()[line - 1]
        tab = tab_error(text, file, line)
        if tab is not None:
            return tab
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
    if tok.type == "NAME":  # `letwidth = 8`: a keyword the grammar wanted, run into the next word
        for t in sorted(expected):
            kw = t.lstrip("_").lower()
            if t.startswith("_") and t.lstrip("_").isalpha() and str(tok).startswith(kw) and len(str(tok)) > len(kw) \
                    and t not in ("_NL", "_INDENT", "_DEDENT"):
                return f"write `{kw} {str(tok)[len(kw):]}`: a keyword is a word of its own"
    if tok.type == "NAME" and tok.column == 1:  # the first word of a line: `steam` for `stem`
        hint = keyword_hint(str(tok))
        if hint is not None:
            return hint
    if tok.type == "_INDENT":
        return "only the lines under a structure's `:` (`residual:`, `add:`, ...) or a block header are indented"
    if tok.type in ("RPAR", "COMMA") and {"EQUAL", "COLON"} <= set(expected) and "LPAR" not in expected:  # `arch net(width)`
        return "a header parameter needs a default value: `name=value`"
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
