"""What the compiler knows about one version of one document, computed once and kept.

An `Analysis` parses the text (a block library, one without an `arch` header, is parsed
as a library), compiles its first variant (the model the CLI builds by default) to the
checked IR graph, evaluates the header parameters and `let`s, and indexes the text: every
layer word, name, declaration and keyword with its position, and every IR node and group
by the span that made it. Hover, completion, symbols and definition are then lookups.

`Documents` keeps the analysis of each open document per version: a hover on an unchanged
document never parses again.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from archdsl.errors import ArchError, Span
from archdsl.syntax import ast


@dataclass
class Ref:
    """A word of the document the server can explain: where it is and what it is."""

    line: int  # 1-based, as in Span
    column: int  # 1-based
    length: int
    kind: str  # layer name local block_def block_param param let variant assign section struct use shared option default value
    obj: Any
    block: ast.BlockDef | None = None  # the block definition the word is inside
    index: ast.Index | None = None  # a name that is indexed: `dims` in `dims[2]`


class Analysis:
    """Parse, check and index one document version. Never raises for bad input: errors
    are collected in `errors` as (ArchError, variant or None)."""

    def __init__(self, text: str, file: str, version: int | None = None):
        self.text = text
        self.file = file
        self.version = version
        self.lines = text.splitlines()
        self.library = re.search(r"^arch", text, re.M) is None
        self.program: ast.Program | None = None
        self.graph = None  # archdsl.ir.graph.Graph of `variant`, when it compiles
        self.variant: str | None = None
        self.values: dict[str, Any] = {}  # header parameters (for `variant`) and lets
        self.value_spans: dict[str, Span] = {}  # where each parameter's value was written
        self.errors: list[tuple[ArchError, str | None]] = []
        self.refs: dict[int, list[Ref]] = {}
        self.nodes_at: dict[tuple[int, int], list[int]] = {}
        self.groups_at: dict[tuple[int, int], list[tuple]] = {}
        self._graphs: dict[str | None, Any] = {}
        self._costs: dict[int, tuple[int, int]] | None = None
        self._under: dict[tuple, list] | None = None
        self._variants_checked = False
        self._analyse()

    # ---- building ------------------------------------------------------------------
    def _analyse(self) -> None:
        try:
            self.program = self._parse()
        except ArchError as e:
            self.errors.append((e, None))
            return
        except Exception as e:  # a bug in archdsl: say so in the editor instead of dying
            self.errors.append((_internal(e), None))
            return
        self._index_program(self.program)
        if self.library:
            return
        self.variant = self.program.variant_names[0] if self.program.variants else None
        self._evaluate_values()
        g = self.graph_for(self.variant)
        if isinstance(g, ArchError):
            self.errors.append((g, None))
        else:
            self.graph = g
            self._index_graph(g)

    def _parse(self) -> ast.Program:
        from archdsl.syntax.imports import resolve_uses
        from archdsl.syntax.parser import parse_source

        return resolve_uses(parse_source(self.text, self.file, library=self.library))

    def graph_for(self, variant: str | None):
        """The checked graph of a variant (cached), or the ArchError that stops it."""
        if variant not in self._graphs:
            from archdsl.api import compile_graph

            try:
                self._graphs[variant] = compile_graph(self.program, variant)
            except ArchError as e:
                self._graphs[variant] = e
            except Exception as e:  # pragma: no cover - a compiler bug
                self._graphs[variant] = _internal(e)
        return self._graphs[variant]

    def variant_errors(self) -> list[tuple[ArchError, str | None]]:
        """Errors of the variants after the first (each compiled once, on demand)."""
        out = []
        if self.program is None or self.library or self.graph is None:
            return out
        for name in self.program.variant_names[1:]:
            g = self.graph_for(name)
            if isinstance(g, ArchError):
                out.append((g, name))
        return out

    def _evaluate_values(self) -> None:
        from archdsl.ir.values import evaluate
        from archdsl.passes.parameters import resolve_parameters
        from archdsl.ir.values import Env

        try:
            resolved = resolve_parameters(self.program, self.variant)
        except ArchError:
            return
        self.values = dict(resolved.values)
        self.value_spans = dict(resolved.spans)
        env = Env(resolved.values)
        for let in self.program.lets:
            try:
                env.values[let.name] = evaluate(let.value, env, self.program.blocks)
            except ArchError:
                break  # the compile error reports it; later lets may depend on this one
            self.values[let.name] = env.values[let.name]
            self.value_spans[let.name] = let.span

    def _index_graph(self, g) -> None:
        for node in g:
            s = node.span
            if s.file == self.file:
                self.nodes_at.setdefault((s.line, s.column), []).append(node.id)
        for path, grp in g.groups.items():
            s = grp.span
            if s.file == self.file and path:
                self.groups_at.setdefault((s.line, s.column), []).append(path)

    def _index_program(self, p: ast.Program) -> None:
        add = self._add
        for param in p.params:
            add(param.span, "param", param)
            self._walk(param.default, None, frozenset())
        if p.input is not None:
            for d in p.input.dims:
                self._walk(d, None, frozenset())
        for use in p.uses:
            add(use.span, "use", use)
        for d in p.defaults:
            add(d.span, "default", d)
            self._walk(d.kwargs, None, frozenset())
        for let in p.lets:
            add(let.span, "let", let)
            self._walk(let.value, None, frozenset())
        for sh in p.shared.values():
            add(sh.span, "shared", sh)
            self._walk(sh.layer, None, frozenset())
        for b in p.blocks.values():
            if b.span.file != self.file:
                continue  # imported from a library
            add(b.span, "block_def", b)
            for bp in b.params:
                add(bp.span, "block_param", bp, block=b)
                self._walk(bp.default, b, frozenset())
            self._walk(b.body, b, frozenset())
        for sec in p.sections:
            add(sec.span, "section", sec)
            self._walk(sec.chain, None, frozenset())
        for v in p.variants.values():
            add(v.span, "variant", v)
            if self.line_text(v.span.line).startswith("variant"):  # the keyword explains the line too
                add(Span(self.file, v.span.line, 1, len("variant"), ""), "variant", v)
            for a in v.assigns:
                add(a.span, "assign", a)
                self._walk(a.value, None, frozenset())

    def _add(self, span: Span, kind: str, obj: Any, block: ast.BlockDef | None = None, index: ast.Index | None = None) -> None:
        if span.file != self.file:
            return
        self.refs.setdefault(span.line, []).append(Ref(span.line, span.column, span.length, kind, obj, block, index))

    def _walk(self, obj: Any, block: ast.BlockDef | None, local: frozenset, index: ast.Index | None = None) -> None:
        if obj is None or isinstance(obj, (str, int, float, bool)):
            return
        if isinstance(obj, list):
            for x in obj:
                self._walk(x, block, local)
            return
        if isinstance(obj, dict):
            for x in obj.values():
                self._walk(x, block, local)
            return
        if isinstance(obj, ast.Name):
            self._add(obj.span, "local" if obj.id in local else "name", obj, block, index)
            return
        if isinstance(obj, ast.Index):
            self._walk(obj.target, block, local, index=obj)
            self._walk(obj.index, block, local)
            return
        if isinstance(obj, ast.Comprehension):
            inner = local | {obj.var}
            self._walk(obj.source, block, local)
            self._walk(obj.item, block, inner)
            self._walk(obj.cond, block, inner)
            return
        if isinstance(obj, ast.Layer):
            self._add(obj.span, "layer", obj, block)
        elif isinstance(obj, ast.Struct):
            self._add(obj.span, "struct", obj, block)
        elif isinstance(obj, ast.Option):
            self._add(obj.span, "option", obj, block)
        elif isinstance(obj, ast.Value):
            self._add(obj.span, "value", obj, block)
        if dataclasses.is_dataclass(obj):
            for f in dataclasses.fields(obj):
                if f.name not in ("span", "kwarg_spans"):
                    self._walk(getattr(obj, f.name), block, local)

    # ---- queries -------------------------------------------------------------------
    def ref_at(self, line: int, column: int) -> Ref | None:
        """The innermost word at a 1-based line and column (the column may sit just past it)."""
        hits = [r for r in self.refs.get(line, ()) if r.column <= column < r.column + r.length]
        if not hits:  # the cursor right after a word (`conv3|`)
            hits = [r for r in self.refs.get(line, ()) if r.column + r.length == column]
        return min(hits, key=lambda r: r.length) if hits else None

    def nodes_of(self, ref: Ref) -> list:
        if self.graph is None:
            return []
        return [self.graph.nodes[i] for i in self.nodes_at.get((ref.line, ref.column), ())
                if self.graph.nodes[i].span.length == ref.length]

    def groups_of(self, ref: Ref) -> list:
        if self.graph is None:
            return []
        return [self.graph.groups[p] for p in self.groups_at.get((ref.line, ref.column), ())]

    def cost(self, node) -> tuple[int, int]:
        """(params, MACs) of one node of `graph`, by the summary backend's rule."""
        if self._costs is None:
            from archdsl.backends.summary import node_cost

            self._costs = {n.id: (0, 0) if n.op == "input" else node_cost(self.graph, n) for n in self.graph}
        return self._costs[node.id]

    def nodes_under(self, path: tuple) -> list:
        """The nodes of `graph` whose module scope is `path` or inside it, in execution order."""
        if self._under is None:
            self._under = {}
            for n in self.graph:
                for k in range(len(n.scope) + 1):
                    self._under.setdefault(n.scope[:k], []).append(n)
        return self._under.get(tuple(path), [])

    def line_text(self, line: int) -> str:
        return self.lines[line - 1] if 0 < line <= len(self.lines) else ""


def _internal(e: Exception) -> ArchError:
    return ArchError(f"internal error in archdsl ({type(e).__name__}: {e}); please report it", None,
                     "the file may be fine: this is a bug in archdsl")


class Documents:
    """The analyses of the open documents, one per URI, replaced when the version changes."""

    def __init__(self):
        self._docs: dict[str, Analysis] = {}

    def get(self, uri: str, text: str, file: str, version: int | None) -> Analysis:
        a = self._docs.get(uri)
        if a is None or a.version != version or a.text != text:
            a = Analysis(text, file, version)
            self._docs[uri] = a
        return a

    def drop(self, uri: str) -> None:
        self._docs.pop(uri, None)


def use_target(use: ast.Use, importer: str):
    """The file a `use` line names (next to the importer, else in the zoo), or None.

    The compiler's own rule (archdsl.syntax.imports) also refuses paths that leave the
    importer's directory; a refused path is an error the diagnostics already show.
    """
    from pathlib import Path

    from archdsl.source import zoo_dir

    if not use.path.endswith(".arch") or Path(use.path).is_absolute():
        return None
    base = Path.cwd() if importer.startswith("<") else Path(importer).resolve().parent
    for root in (base, zoo_dir()):
        if root is not None and (root / use.path).is_file():
            return (root / use.path).resolve()
    return None
