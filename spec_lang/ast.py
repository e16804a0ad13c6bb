"""The spec AST: frozen dataclasses (``spec_lang.records``), each carrying the ``Span`` it was parsed from.

Expressions are generic (numbers, strings, names, lists, calls, arithmetic) so that
layer kinds, activations, initializers and later search dimensions are all just
``Call`` or ``Name`` nodes interpreted by the compiler.
"""

from __future__ import annotations

from typing import Union

from spec_lang.records import Record, record
from spec_lang.span import Span


# ---- expressions -----------------------------------------------------------
@record
class Number(Record):
    text: str  # as written, for the formatter
    value: int | float
    span: Span


@record
class String(Record):
    value: str
    span: Span


@record
class Bool(Record):
    value: bool
    span: Span


@record
class Name(Record):
    id: str
    span: Span


@record
class ListExpr(Record):
    items: tuple["Expr", ...]
    span: Span


@record
class TupleExpr(Record):
    items: tuple["Expr", ...]
    span: Span


@record
class DictItem(Record):
    """``key: value`` in a dict literal; ``quoted`` when the key is written as a string (``"my key": 1``)."""

    key: str
    key_span: Span
    quoted: bool
    value: "Expr"
    span: Span


@record
class DictExpr(Record):
    """``{key: value, ...}``: keys are names or strings (``loss = {label: mse, value: mae}``)."""

    items: tuple[DictItem, ...]
    span: Span


@record
class Arg(Record):
    """A call argument: positional when ``name`` is None, else ``name=value``."""

    name: str | None
    value: "Expr"
    span: Span


@record
class Call(Record):
    """``func(args...)``: a layer, a block use, an activation, an initializer ..."""

    func: str
    func_span: Span
    args: tuple[Arg, ...]
    span: Span

    @property
    def positional(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.name is None)

    @property
    def keywords(self) -> tuple[Arg, ...]:
        return tuple(a for a in self.args if a.name is not None)


@record
class BinOp(Record):
    """``left op right`` with op one of + - * / // % **."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span


@record
class Unary(Record):
    """``op operand`` with op one of - +."""

    op: str
    operand: "Expr"
    span: Span


Expr = Union[Number, String, Bool, Name, ListExpr, TupleExpr, DictExpr, Call, BinOp, Unary]


# ---- statements ------------------------------------------------------------
@record
class Repeat(Record):
    """``repeat N { ... }``: the body N times."""

    count: Expr
    body: "Body"
    span: Span


@record
class Wired(Record):
    """``Kind(args)(a, b)``: a layer line (or a block use) that takes the outputs named ``inputs``, in order,
    instead of the previous line's."""

    call: Call
    inputs: tuple[Name, ...]
    span: Span


@record
class Residual(Record):
    """``residual { body } [shortcut { body }]``: ``Add()(body(x), shortcut(x))``, the shortcut ``x`` itself
    when there is none; ``x`` is the flow into the construct."""

    body: "Body"
    shortcut: "Body | None"
    span: Span
    keyword_span: Span  # ``residual``: where the Add's errors point


@record
class Branch(Record):
    """``branch { ... }`` in a ``parallel``: an empty body is the construct's input itself."""

    body: "Body"
    span: Span


@record
class Parallel(Record):
    """``parallel Merge(args) { branch {...} ... }``: every branch takes the construct's input; ``merge`` joins
    their outputs in order."""

    merge: Call
    branches: tuple[Branch, ...]
    span: Span
    keyword_span: Span
    inner_span: Span  # from the ``{`` after the merge to its ``}``: the braces around the branches


@record
class Named(Record):
    """``name = stmt`` (``output`` false) or ``output name = stmt``: names the output of ``stmt`` (a layer line,
    a ``Wired`` line, a residual or a parallel); ``output`` marks it as one of the model's outputs, keyed
    ``name``."""

    name: str
    name_span: Span
    output: bool
    stmt: "Unit"
    span: Span


Unit = Union[Call, Wired, Residual, Parallel]
LayerStmt = Union[Call, Wired, Residual, Parallel, Named, Repeat]


@record
class Body(Record):
    """A braced list of layer statements."""

    items: tuple[LayerStmt, ...]
    span: Span


@record
class ConstDef(Record):
    """``name = value`` at top level: a named constant."""

    name: str
    value: Expr
    span: Span


@record
class Param(Record):
    name: str
    default: Expr | None
    span: Span


@record
class BlockDef(Record):
    """``block name(params) { ... }``: a reusable group of layers."""

    name: str
    params: tuple[Param, ...]
    body: Body
    span: Span
    name_span: Span


@record
class ModelDef(Record):
    """``model name { ... }``: the network, starting with its ``Input``."""

    name: str
    body: Body
    span: Span
    name_span: Span


@record
class Setting(Record):
    """``key = value`` inside ``train { ... }``."""

    name: str
    value: Expr
    span: Span
    name_span: Span


@record
class TrainDef(Record):
    """``train { ... }``: how the model is trained."""

    settings: tuple[Setting, ...]
    span: Span


Statement = Union[ConstDef, BlockDef, ModelDef, TrainDef]


@record
class Comment(Record):
    """A ``# ...`` comment; ``own_line`` when nothing but blanks precede it on its line."""

    text: str
    line: int
    column: int
    own_line: bool


@record
class Module(Record):
    """A whole spec file."""

    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...]
    path: str


def children(node) -> list:
    """The AST nodes directly inside ``node``, in source order (an ``Arg`` is a node: its value is inside it).
    Reads the record's fields straight from its ``__dict__`` (in field order): walks over 10**5 nodes stay
    fast."""
    out = []
    for value in node.__dict__.values():
        if isinstance(value, Record):
            out.append(value)
        elif value.__class__ is tuple:  # a tuple of nodes (a Span is a NamedTuple, not a node)
            out.extend(v for v in value if isinstance(v, Record))
    return out
