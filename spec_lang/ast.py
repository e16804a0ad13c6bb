"""The spec AST: plain frozen dataclasses, each carrying the ``Span`` it was parsed from.

Expressions are generic (numbers, strings, names, lists, calls, arithmetic) so that
layer kinds, activations, initializers and later search dimensions are all just
``Call`` or ``Name`` nodes interpreted by the compiler.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from spec_lang.span import Span, fast_init


# ---- expressions -----------------------------------------------------------
@fast_init
@dataclass(frozen=True)
class Number:
    text: str  # as written, for the formatter
    value: int | float
    span: Span


@fast_init
@dataclass(frozen=True)
class String:
    value: str
    span: Span


@fast_init
@dataclass(frozen=True)
class Bool:
    value: bool
    span: Span


@fast_init
@dataclass(frozen=True)
class Name:
    id: str
    span: Span


@fast_init
@dataclass(frozen=True)
class ListExpr:
    items: tuple["Expr", ...]
    span: Span


@fast_init
@dataclass(frozen=True)
class TupleExpr:
    items: tuple["Expr", ...]
    span: Span


@fast_init
@dataclass(frozen=True)
class Arg:
    """A call argument: positional when ``name`` is None, else ``name=value``."""

    name: str | None
    value: "Expr"
    span: Span


@fast_init
@dataclass(frozen=True)
class Call:
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


@fast_init
@dataclass(frozen=True)
class BinOp:
    """``left op right`` with op one of + - * / // % **."""

    op: str
    left: "Expr"
    right: "Expr"
    span: Span


@fast_init
@dataclass(frozen=True)
class Unary:
    """``op operand`` with op one of - +."""

    op: str
    operand: "Expr"
    span: Span


Expr = Union[Number, String, Bool, Name, ListExpr, TupleExpr, Call, BinOp, Unary]


# ---- statements ------------------------------------------------------------
@fast_init
@dataclass(frozen=True)
class Repeat:
    """``repeat N { ... }``: the body N times."""

    count: Expr
    body: "Body"
    span: Span


LayerStmt = Union[Call, Repeat]


@fast_init
@dataclass(frozen=True)
class Body:
    """A braced list of layer statements."""

    items: tuple[LayerStmt, ...]
    span: Span


@fast_init
@dataclass(frozen=True)
class ConstDef:
    """``name = value`` at top level: a named constant."""

    name: str
    value: Expr
    span: Span


@fast_init
@dataclass(frozen=True)
class Param:
    name: str
    default: Expr | None
    span: Span


@fast_init
@dataclass(frozen=True)
class BlockDef:
    """``block name(params) { ... }``: a reusable group of layers."""

    name: str
    params: tuple[Param, ...]
    body: Body
    span: Span
    name_span: Span


@fast_init
@dataclass(frozen=True)
class ModelDef:
    """``model name { ... }``: the network, starting with its ``Input``."""

    name: str
    body: Body
    span: Span
    name_span: Span


@fast_init
@dataclass(frozen=True)
class Setting:
    """``key = value`` inside ``train { ... }``."""

    name: str
    value: Expr
    span: Span
    name_span: Span


@fast_init
@dataclass(frozen=True)
class TrainDef:
    """``train { ... }``: how the model is trained."""

    settings: tuple[Setting, ...]
    span: Span


Statement = Union[ConstDef, BlockDef, ModelDef, TrainDef]


@fast_init
@dataclass(frozen=True)
class Comment:
    """A ``# ...`` comment; ``own_line`` when nothing but blanks precede it on its line."""

    text: str
    line: int
    column: int
    own_line: bool


@fast_init
@dataclass(frozen=True)
class Module:
    """A whole spec file."""

    statements: tuple[Statement, ...]
    comments: tuple[Comment, ...]
    path: str
