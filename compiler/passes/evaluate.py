"""Evaluate value expressions: constants, arithmetic, lists; names and calls stay symbolic.

A bare name that is neither a block parameter nor a constant is a *symbol* (``relu``,
``same``, ``he_uniform``); a call in value position (``l2(1e-4)``) is a *call value*.
Which symbols and calls are valid is decided where the value is used.
"""

from __future__ import annotations

import math
from typing import Any, Mapping

from spec_lang import ast
from spec_lang.records import Record, record
from spec_lang.span import Span

MAX_INT_BITS = 4096
_new = tuple.__new__  # _new(Span, (path, line, column, end_line, end_column)): a Span made by C code


class EvalError(Exception):
    def __init__(self, message: str, span: Span, hint: str | None = None):
        super().__init__(message)
        self.message, self.span, self.hint = message, span, hint


@record
class Sym(Record):
    """A bare name used as a value: ``relu``, ``same``, ``accuracy``."""

    name: str


@record
class CallVal(Record):
    """A call used as a value, its arguments evaluated: ``l2(1e-4)``, ``cosine(decay_steps=1000)``."""

    func: str
    func_span: Span
    args: tuple["Val", ...]
    kwargs: tuple[tuple[str, "Val"], ...]


@record
class DictVal(Record):
    """A dict literal evaluated: ``{label: mse, value: mae}`` → ``(("label", Val), ("value", Val))`` in source
    order (keys are unique: the parser refuses a key given twice); each value's ``key_span`` is where its key
    is written."""

    items: tuple[tuple[str, "Val"], ...]

    def get(self, key: str) -> "Val | None":
        return next((v for k, v in self.items if k == key), None)

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(k for k, _ in self.items)


@record
class Val(Record):
    """An evaluated value and the span of the expression it came from."""

    value: Any  # int | float | bool | str | tuple[Val, ...] | Sym | CallVal | DictVal
    span: Span
    key_span: Span | None = None  # for a keyword argument: where its name is written

    def describe(self) -> str:
        """How a received value is named in an error message."""
        v = self.value
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)):
            return repr(v)
        if isinstance(v, str):
            return f'string "{v}"'
        if isinstance(v, Sym):
            return f"name '{v.name}'"
        if isinstance(v, CallVal):
            return f"call {v.func}(...)"
        if isinstance(v, DictVal):
            return "dict {" + ", ".join(f"{k}: {i.describe()}" for k, i in v.items) + "}"
        return "list [" + ", ".join(i.describe() for i in v) + "]"


class Evaluator:
    """Evaluates expressions against named constants (defined anywhere at top level, no cycles)."""

    def __init__(self, constants: Mapping[str, ast.ConstDef]):
        self.constants = constants
        self._cache: dict[str, Val] = {}
        self._active: list[str] = []

    def constant(self, name: str, span: Span) -> Val:
        if name in self._cache:
            return self._cache[name]
        if name in self._active:
            chain = " → ".join([*self._active[self._active.index(name):], name])
            raise EvalError(f"constant '{name}' is defined in terms of itself ({chain})", span)
        self._active.append(name)
        try:
            val = self.evaluate(self.constants[name].value, {})
        finally:
            self._active.pop()
        self._cache[name] = val
        return val

    def evaluate(self, expr: ast.Expr, scope: Mapping[str, Val]) -> Val:
        """Evaluate ``expr``; names look in ``scope`` (block parameters), then constants."""
        return Val(self.value_of(expr, scope), expr.span)

    def value_of(self, expr: ast.Expr, scope: Mapping[str, Val]) -> Any:
        """The value of ``expr`` (what ``evaluate(expr, scope).value`` is), without wrapping it in a ``Val``."""
        kind = expr.__class__
        if kind is ast.Number or kind is ast.String or kind is ast.Bool:
            return expr.value
        if kind is ast.Name:
            name = expr.id
            if name in scope:
                return scope[name].value
            if name in self.constants:
                return self.constant(name, expr.span).value
            return Sym(name)
        if kind is ast.Call:
            args, kwargs = [], []
            seen: set[str] = set()
            for a in expr.args:
                if a.name is None:
                    args.append(self.evaluate(a.value, scope))
            for a in expr.args:
                if a.name is not None:
                    if a.name in seen:
                        raise EvalError(f"argument '{a.name}' is given twice", a.span)
                    seen.add(a.name)
                    kwargs.append(self.keyword(a, scope))
            return CallVal(expr.func, expr.func_span, tuple(args), tuple(kwargs))
        if kind is ast.ListExpr or kind is ast.TupleExpr:
            return tuple([self.evaluate(i, scope) for i in expr.items])
        if kind is ast.DictExpr:
            return DictVal(tuple((i.key, Val(self.value_of(i.value, scope), i.value.span, i.key_span))
                                 for i in expr.items))
        if kind is ast.Unary:
            operand = self.evaluate(expr.operand, scope)
            x = _number(operand, expr.op)
            return -x if expr.op == "-" else x
        if kind is ast.BinOp:
            left = _number(self.evaluate(expr.left, scope), expr.op)
            right = _number(self.evaluate(expr.right, scope), expr.op)
            return _arith(expr.op, left, right, expr.span)
        raise TypeError(f"unknown expression {expr!r}")  # pragma: no cover - the grammar has no other kinds

    def keyword(self, arg: ast.Arg, scope: Mapping[str, Val]) -> tuple[str, Val]:
        """A keyword argument ``name=value`` evaluated; the value remembers where the name is written."""
        s = arg.span  # starts at the name, a single token
        key_span = _new(Span, (s.path, s.line, s.column, s.line, s.column + len(arg.name or "")))
        value = arg.value
        return arg.name or "", Val(self.value_of(value, scope), value.span, key_span)


def _number(val: Val, op: str) -> int | float:
    if isinstance(val.value, bool) or not isinstance(val.value, (int, float)):
        hint = None
        if isinstance(val.value, Sym):
            hint = f"'{val.value.name}' is not a defined constant"
        raise EvalError(f"operator '{op}' needs numbers, received {val.describe()}", val.span, hint)
    return val.value


def _arith(op: str, a: int | float, b: int | float, span: Span) -> int | float:
    """a op b with Python's semantics; division by zero and huge results are errors, not crashes."""
    if op in ("/", "//", "%") and b == 0:
        raise EvalError(f"division by zero in '{op}'", span)
    try:  # float(b) and b * log2(a) overflow too when b is a huge integer
        if op == "**":
            if isinstance(a, int) and isinstance(b, int) and b >= 0:
                if a not in (0, 1, -1) and b * math.log2(abs(a)) > MAX_INT_BITS:
                    raise EvalError("number too large", span)
            elif a == 0 and b < 0:
                raise EvalError("zero cannot be raised to a negative power", span)
            elif a < 0 and not float(b).is_integer():
                raise EvalError("a negative number cannot be raised to a fractional power", span)
        result = {
            "+": lambda: a + b, "-": lambda: a - b, "*": lambda: a * b, "/": lambda: a / b,
            "//": lambda: a // b, "%": lambda: a % b, "**": lambda: a**b,
        }[op]()
    except OverflowError:
        raise EvalError("number too large", span) from None
    if isinstance(result, float) and not math.isfinite(result):
        raise EvalError("number too large", span)
    if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
        raise EvalError("number too large", span)
    return result
