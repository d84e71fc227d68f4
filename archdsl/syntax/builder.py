"""Parse tree -> AST: the dataclasses of `archdsl.syntax.ast`, each with the span of its text.

The parser (`archdsl.syntax.parser`) hands over lark's tree; this module names its parts,
refuses what the grammar admits but the language does not (a second `arch` header, a name
declared twice, a literal beyond the 64-bit range) and keeps every node's position.
"""

from __future__ import annotations

from lark import Token, Tree

from archdsl.errors import ArchError, Span
from archdsl.syntax import ast

from archdsl.syntax.hints import STRUCT_KINDS, check_let_order, tab_error

SECTION_KINDS = ("stem", "down", "stage", "head")


class Builder:
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
        layers: dict[str, ast.LayerDef] = {}
        arch_span = Span(self.file, 1, 1, 1, self._line(1))
        for st in tree.children:
            kind = st.data
            if library and kind not in ("block_def", "layer_def", "use_decl"):
                raise ArchError("a library holds only `block` and `layer` definitions and `use` lines", self.span_tree(st),
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
                args, kwargs, kw_spans = self.call_args(st.children[1]) if st.children[1] is not None else ([], {}, {})
                init = ast.InitDecl(str(st.children[0]), args, kwargs, self.span_tok(st.children[0]), kw_spans)
            elif kind == "default_decl":
                args, kwargs, kw_spans = self.call_args(st.children[1])
                if args:
                    raise ArchError("`default` takes keyword values only", self.span_tree(st.children[1]), "write e.g. `default ln(eps=1e-6)`")
                defaults.append(ast.Default(str(st.children[0]), kwargs, self.span_tok(st.children[0]), kw_spans))
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
            elif kind == "layer_def":
                ld = self.layer_def(st)
                if ld.name in blocks:
                    raise ArchError(f"`{ld.name}` is defined as a block and as a layer", ld.span,
                                    f"the block is at line {blocks[ld.name].span.line}; rename one")
                if ld.name in layers:
                    raise ArchError(f"layer `{ld.name}` defined twice", ld.span, f"first defined at line {layers[ld.name].span.line}")
                layers[ld.name] = ld
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
            return ast.Program(self.file, self.text, "", [], None, None, [], [], blocks, [], {}, arch_span, uses, layers=layers)
        if name is None:
            first = next((i for i, l in enumerate(self.lines, 1) if l.strip() and not l.strip().startswith("#")), 1)
            raise ArchError("missing `arch NAME(...)` header", Span(self.file, first, 1, 1, self._line(first)),
                            "start the file with e.g. `arch mynet(classes=1000)`")
        program = ast.Program(self.file, self.text, name, params, inp, init, defaults, lets, blocks, sections, variants, arch_span,
                              uses, shared, layers)
        for name, ld in layers.items():
            if name in blocks:
                raise ArchError(f"`{name}` is defined as a block and as a layer", ld.span,
                                f"the block is at line {blocks[name].span.line}; rename one")
        check_let_order(program)
        return program

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

    def layer_def(self, t: Tree) -> ast.LayerDef:
        """`layer NAME(params):` and its tensor lines: `a, b = expr` names values, `expr` alone is the output."""
        name_tok = t.children[0]
        params, lines = [], []
        for c in t.children[1:]:
            if c is None:
                continue
            if c.data in ("required_param", "param"):
                params.append(self.param(c))
            elif c.data == "tensor_assign":
                *names, value = c.children
                lines.append(ast.TensorLine([str(n) for n in names], self.expr(value), self.span_tok(names[0])))
            else:
                value = self.expr(c.children[0])
                lines.append(ast.TensorLine([], value, value.span))
        return ast.LayerDef(str(name_tok), params, lines, self.span_tok(name_tok))

    def line(self, t: Tree) -> ast.Line:
        """A body line: a chain (a lone structure is the line itself), or `name = line`;
        the `_block` forms carry indented lines, the body of the structure the line ends in."""
        if t.data.startswith("value_"):  # `name = line`: the rest is a chain (or a structure)
            name_tok = t.children[0]
            rest = Tree("chain_block" if t.data == "value_block" else "chain_line", t.children[1:], t.meta)
            return ast.Value(str(name_tok), self.line(rest), self.span_tok(name_tok))
        chain = self.chain(t.children[0])
        if t.data == "chain_block":
            body = [self.line(c) for c in t.children[1:]]
            open_struct = self._open_struct(chain)
            if open_struct is None:
                tab = tab_error(self.text, self.file, body[0].span.line)
                if tab is not None:
                    raise tab
                raise ArchError("unexpected indentation", self._indented_span(body[0]),
                                "only the lines under a structure's `:` (`residual:`, `add:`, ...) or a block header are indented")
            open_struct.body = body
        self._check_bodies(chain)
        if len(chain.items) == 1 and isinstance(chain.items[0], ast.Struct):
            return chain.items[0]
        return chain

    @staticmethod
    def _open_struct(chain: ast.Chain) -> ast.Struct | None:
        """The structure a line ends in with nothing after its `:` (`add:`, `residual: add:`)."""
        while chain.items and isinstance(chain.items[-1], ast.Struct):
            s = chain.items[-1]
            if not s.body:
                return s
            if len(s.body) != 1 or not isinstance(s.body[0], ast.Chain):
                return None
            chain = s.body[0]
        return None

    def _indented_span(self, line: ast.Line) -> Span:
        span = line.span
        src = self._line(span.line)
        return Span(self.file, span.line, 1, max(1, len(src) - len(src.lstrip())), src)

    def _check_bodies(self, node) -> None:
        """Every structure has a body: `[residual:]` and `stem residual:` are errors."""
        if isinstance(node, ast.Chain):
            for it in node.items:
                self._check_bodies(it)
        elif isinstance(node, ast.Group):
            self._check_bodies(node.chain)
        elif isinstance(node, ast.Repeat):
            self._check_bodies(node.item)
        elif isinstance(node, ast.Struct):
            if not node.body:
                raise ArchError(f"`{node.kind}:` has no body", node.span,
                                f"write its layers after the colon (`{node.kind}: ...`) or on indented lines below it")
            for line in node.body:
                self._check_bodies(line)
        elif isinstance(node, ast.Value):
            self._check_bodies(node.line)

    def struct(self, t: Tree) -> ast.Struct:
        name_tok, args_tree, body_tree = t.children
        args, kwargs, _ = self.call_args(args_tree) if args_tree is not None else ([], {}, {})
        kind = str(name_tok)
        if kind not in STRUCT_KINDS:
            from archdsl.errors import did_you_mean

            raise ArchError(f"unknown structure `{kind}:`", self.span_tok(name_tok),
                            did_you_mean(kind, STRUCT_KINDS) or "structures are " + ", ".join(f"`{k}:`" for k in STRUCT_KINDS))
        body = [self.chain(body_tree)] if body_tree is not None else []
        return ast.Struct(kind, args, kwargs, body, self.span_tok(name_tok))

    def section(self, t: Tree) -> ast.Section:
        kind_tok = t.children[0]
        chain = self.chain(t.children[1])
        self._check_bodies(chain)
        if chain.items and isinstance(chain.items[-1], ast.Struct):
            self._check_struct_end(chain.items[-1])
        return ast.Section(str(kind_tok), chain, self.span_tok(kind_tok))

    def _check_struct_end(self, s: ast.Struct) -> None:
        """A structure at the end of a stage line takes the rest of the line as its body,
        so a trailing `x[...]` or `name=value` would land inside it."""
        while True:
            chain = s.body[0]
            for it in chain.items:
                if isinstance(it, ast.Option) or (isinstance(it, ast.Repeat) and it.per_stage):
                    what = f"`{it.name}=...`" if isinstance(it, ast.Option) else "`x[...]`"
                    raise ArchError(f"{what} is inside `{s.kind}:`: a structure's body runs to the end of the line", it.span,
                                    f"close the structure in brackets: `[{s.kind}: ...] x[...] name=value`")
            if not chain.items or not isinstance(chain.items[-1], ast.Struct):
                return
            s = chain.items[-1]

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
        if t.data == "struct":
            return self.struct(t)
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
            span = self.span_tok(s)
            stride = ast.Num(self.int_literal(str(s), span), span) if s.type == "INT" else ast.Name(str(s), span)
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
    _BINOPS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "floordiv": "//", "mod": "%", "pow": "**", "matmul": "@"}

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
            args, kwargs, spans = self.call_args(Tree("call_args", t.children[1:]))
            return ast.Call(str(t.children[0]), args, self.span_tok(t.children[0]), kwargs=kwargs, kwarg_spans=spans)
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
