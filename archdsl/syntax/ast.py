"""AST dataclasses: what a `.arch` file says, before any value is computed.

Every node carries the `Span` of the text it came from, so later stages can point at
the token that caused a problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Union

from archdsl.errors import Span


def names_in(e: "Expr") -> set[str]:
    """The names an expression reads (`Name` nodes, at any depth)."""
    out: set[str] = set()
    todo = [e]
    while todo:
        n = todo.pop()
        if isinstance(n, Name):
            out.add(n.id)
        elif isinstance(n, list):
            todo += n
        elif isinstance(n, dict):
            todo += list(n.values())
        elif hasattr(n, "__dataclass_fields__"):
            todo += [getattr(n, f) for f in n.__dataclass_fields__ if f != "span"]
    return out


# ---- expressions ------------------------------------------------------------
# The largest magnitude of an integer a .arch value may hold: 64 bits, like every size
# and count torch stores. Larger literals and results are located errors (parser, evaluator).
MAX_INT = 2**63 - 1


@dataclass
class Num:
    value: int | float
    span: Span


@dataclass
class Str:
    value: str
    span: Span


@dataclass
class Name:
    id: str
    span: Span


@dataclass
class ListExpr:
    items: list["Expr"]
    span: Span


@dataclass
class BinOp:
    op: str  # + - * / // **
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass
class Neg:
    operand: "Expr"
    span: Span


@dataclass
class Index:
    target: "Expr"
    index: "Expr"
    span: Span


@dataclass
class Call:
    func: str
    args: list["Expr"]
    span: Span
    kwargs: dict[str, "Expr"] = field(default_factory=dict)  # keyword arguments (tensor primitives in `layer` bodies)
    kwarg_spans: dict[str, Span] = field(default_factory=dict)


@dataclass
class Compare:
    op: str  # == != < > <= >=
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass
class BoolOp:
    op: str  # and | or (short-circuit, like Python)
    left: "Expr"
    right: "Expr"
    span: Span


@dataclass
class Not:
    operand: "Expr"
    span: Span


@dataclass
class IfExpr:
    """`then if cond else other`."""

    cond: "Expr"
    then: "Expr"
    other: "Expr"
    span: Span


@dataclass
class Comprehension:
    """`[item for var in source if cond]`."""

    item: "Expr"
    var: str
    source: "Expr"
    cond: "Expr | None"
    span: Span


Expr = Union[Num, Str, Name, ListExpr, BinOp, Neg, Index, Call, Compare, BoolOp, Not, IfExpr, Comprehension]


# ---- layers and structure ----------------------------------------------------
@dataclass
class Layer:
    """One layer token: `conv7/2(64, g=4)` -> word='conv7', stride=2, args=[64]."""

    word: str
    stride: Expr | None
    args: list[Expr]
    kwargs: dict[str, Expr]
    span: Span  # the word itself
    kwarg_spans: dict[str, Span] = field(default_factory=dict)


@dataclass
class Group:
    """`[ ... ]`: a sub-chain (a branch, or a unit to repeat)."""

    chain: "Chain"
    span: Span


@dataclass
class Repeat:
    """`item x3`, `item x(n)`, or on a stage line `x[3,3,9,3]`."""

    item: "Item"
    count: Expr
    per_stage: bool  # written as a list: one count per stage
    span: Span


@dataclass
class Option:
    """`name=value` at the end of a stage line."""

    name: str
    value: Expr
    span: Span


@dataclass
class Struct:
    """`residual: ...`, `cat: [..] [..]`, `add: [..] [..]`, `dense: ...`, `patches: ...`.

    A body line of its own, or a chain item like a layer (`[residual: conv3 bn] x2`,
    `residual: add: [a] [b]`); `body` holds the inline chain or the indented lines."""

    kind: str
    args: list[Expr]
    kwargs: dict[str, Expr]
    body: list["Line"]
    span: Span


Item = Union[Layer, Group, Repeat, Option, Struct]


@dataclass
class Chain:
    items: list[Item]
    span: Span


@dataclass
class Value:
    """`h = relu conv1(c) bn` in a block body: a named value (the line's result), used by
    chains and branches that start with `h`; the block's running value does not move."""

    name: str
    line: Union[Chain, Struct]
    span: Span


Line = Union[Chain, Struct, Value]


# ---- top level ------------------------------------------------------------------
@dataclass
class Param:
    name: str
    type: str | None  # "int", "float", "list[int]", ... or None (taken from default)
    default: Expr | None  # None: a required block parameter
    span: Span


@dataclass
class BlockDef:
    name: str
    params: list[Param]
    body: list[Line]
    span: Span


@dataclass
class TensorLine:
    """A line of a `layer` body: `n = mean(g, "c") + eps` (names bound), or the result (no names)."""

    names: list[str]
    value: Expr
    span: Span


@dataclass
class LayerDef:
    """`layer grn(eps=1e-6):` and its body of tensor expressions over the input `x`."""

    name: str
    params: list[Param]
    lines: list[TensorLine]
    span: Span


@dataclass
class Section:
    kind: str  # stem | down | stage | head
    chain: Chain
    span: Span


@dataclass
class Assign:
    name: str
    value: Expr
    span: Span


@dataclass
class Variant:
    name: str
    assigns: list[Assign]
    span: Span


@dataclass
class Default:
    layer: str
    kwargs: dict[str, Expr]
    span: Span
    kwarg_spans: dict[str, Span] = field(default_factory=dict)


@dataclass
class Let:
    name: str
    value: Expr
    span: Span


@dataclass
class Shared:
    """`shared cpe = dw3`: one module per stage (or per stem/head section), run at every use of the name."""

    name: str
    layer: Layer
    span: Span


@dataclass
class InputDecl:
    dims: list[Expr]
    span: Span


@dataclass
class InitDecl:
    scheme: str
    args: list[Expr]
    kwargs: dict[str, Expr]
    span: Span
    kwarg_spans: dict[str, Span] = field(default_factory=dict)


@dataclass
class Use:
    """`use "blocks/resnet.arch"`: import the block definitions of another file."""

    path: str
    span: Span


@dataclass
class Program:
    """A parsed `.arch` file."""

    file: str
    source: str
    name: str
    params: list[Param]
    input: InputDecl | None
    init: InitDecl | None
    defaults: list[Default]
    lets: list[Let]
    blocks: dict[str, BlockDef]
    sections: list[Section]
    variants: dict[str, Variant]
    span: Span
    uses: list[Use] = field(default_factory=list)
    shared: dict[str, Shared] = field(default_factory=dict)
    layers: dict[str, LayerDef] = field(default_factory=dict)  # `layer` definitions (this file's and imported ones)

    @property
    def variant_names(self) -> list[str]:
        return list(self.variants)
