"""A dimension call's own arguments: a choice's options and their labels, a range's bounds, step and log.

Every rule of the shared design's "bad dimensions" lives here, each an error at the argument it is about:
an empty choice, duplicate options, bounds that are not fixed numbers, non-integer bounds of an int_range,
low > high, a log range with low <= 0, step <= 0, (high − low) not a multiple of step, step with log, an
unknown or repeated keyword, too many arguments; a bound or step that is not finite, an int_range bound or
step beyond ±2**53, a stepped range of more than 2**53 values, a float range wider than the largest float.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Callable

from compiler.passes.evaluate import EvalError, Evaluator, Sym
from compiler.space.dimensions import Label, show_label
from spec_lang import ast
from spec_lang.diagnostics import DiagnosticSink, did_you_mean
from spec_lang.formatter import format_expr
from spec_lang.span import Span

# Each range function's parameters, in positional order, and its defaults.
RANGE_PARAMS = {
    "int_range": ("low", "high", "step", "log"),
    "float_range": ("low", "high", "step", "log"),
    "log_range": ("low", "high"),
}
FIXED_BOUNDS = "a dimension's bounds, step and log are fixed values"
# The largest magnitude of an int_range's bounds and step, and the most values a stepped range may have:
# 2**53, the integers a float64 (Optuna's and JSON's number) holds exactly; NumPy draws an index below it.
MAX_BOUND = 2**53


def option_labels(options: tuple[ast.Expr, ...]) -> list[Label]:
    """The label of each option: a number or bool → itself; a name → its name; a string → the string; a call
    → its function's name, or its canonical text when another option calls the same function; anything
    else → its canonical text (``fmt``'s rendering)."""
    labels: list[Label] = []
    calls: dict[str, int] = {}  # how many options call each function (counted once: linear in the options)
    for option in options:
        if isinstance(option, ast.Call):
            calls[option.func] = calls.get(option.func, 0) + 1
    for option in options:
        number = _literal_number(option)
        if number is not None:
            labels.append(number)
        elif isinstance(option, ast.Bool):
            labels.append(option.value)
        elif isinstance(option, ast.Name):
            labels.append(option.id)
        elif isinstance(option, ast.String):
            labels.append(option.value)
        elif isinstance(option, ast.Call):
            labels.append(format_expr(option) if calls[option.func] > 1 else option.func)
        else:
            labels.append(format_expr(option))
    return labels


def _literal_number(expr: ast.Expr) -> int | float | None:
    """``3``, ``1e-3``, ``-1``: a number written as one literal (with a sign), else None."""
    if isinstance(expr, ast.Number):
        return expr.value
    if isinstance(expr, ast.Unary) and isinstance(expr.operand, ast.Number):
        return -expr.operand.value if expr.op == "-" else expr.operand.value
    return None


def check_options(call: ast.Call, labels: list[Label], sink: DiagnosticSink) -> bool:
    """Whether ``choice(...)``'s options are usable: at least one, positional, each label once."""
    ok = True
    for arg in call.keywords:
        sink.error(f"choice takes options, not keyword arguments: '{arg.name}='", arg.span,
                   "write the options as choice(a, b, ...)")
        ok = False
    if not call.args:
        sink.error("empty choice: a choice needs at least one option", call.span, "write choice(a, b, ...)")
        return False
    seen: dict[tuple, int] = {}  # (is a bool, label) → its first option: linear in the options
    for i, (arg, label) in enumerate(zip(call.args, labels)):
        first = seen.setdefault((isinstance(label, bool), label), i)
        if first != i:
            sink.error(f"duplicate option {show_label(label)!s} in choice (the same as option {first + 1})",
                       arg.value.span, "each option may appear once")
            ok = False
    return ok


class RangeArgs:
    """A range call's bounds, read and checked: ``low``, ``high``, ``step``, ``log`` (None when invalid)."""

    def __init__(self, call: ast.Call, evaluator: Evaluator, fixed: Callable[[ast.Expr], str | None],
                 sink: DiagnosticSink):
        self.call, self.sink = call, sink
        self.ok = True
        kind = call.func
        given = self._bind(call, RANGE_PARAMS[kind])
        if given is None:
            self.ok = False
            return
        values: dict[str, object] = {}
        for name, arg in given.items():
            problem = fixed(arg.value)
            if problem is not None:
                sink.error(f"a search dimension cannot go here: {FIXED_BOUNDS} ({problem})", arg.value.span)
                self.ok = False
                continue
            try:
                values[name] = evaluator.value_of(arg.value, {})
            except EvalError as exc:
                sink.error(exc.message, exc.span, exc.hint)
                self.ok = False
        if not self.ok:
            return
        self.low, self.high = values["low"], values["high"]
        self.step = values.get("step", 1 if kind == "int_range" else None)
        self.log = values.get("log", kind == "log_range")
        if isinstance(self.step, Sym) and self.step.name == "none":
            self.step = None
        self.spans = {name: arg.value.span for name, arg in given.items()}
        self._check(kind)

    def _bind(self, call: ast.Call, params: tuple[str, ...]) -> dict[str, ast.Arg] | None:
        """The call's arguments by parameter name, or None (reported) if they do not fit ``params``."""
        given: dict[str, ast.Arg] = {}
        ok = True
        positional = call.positional
        for i, arg in enumerate(positional):
            if i >= len(params):
                sink_word = ", ".join(params)
                self.sink.error(f"{call.func} takes at most {len(params)} arguments ({sink_word}), "
                                f"received {len(positional)}", arg.span)
                ok = False
                break
            given[params[i]] = arg
        for arg in call.keywords:
            if arg.name not in params:
                self.sink.error(f"{call.func} has no argument '{arg.name}'", _key_span(arg),
                                did_you_mean(arg.name, params) or "it takes " + ", ".join(params))
                ok = False
            elif arg.name in given:
                self.sink.error(f"{call.func}: argument '{arg.name}' is given twice", _key_span(arg))
                ok = False
            else:
                given[arg.name] = arg
        for name in ("low", "high"):
            if ok and name not in given:
                self.sink.error(f"{call.func}: missing required argument '{name}'", call.span,
                                f"write {call.func}(low, high)")
                ok = False
        return given if ok else None

    def _error(self, message: str, where: str, hint: str | None = None) -> None:
        self.sink.error(f"{self.call.func}: {message}", self.spans.get(where, self.call.span), hint)
        self.ok = False

    def _check(self, kind: str) -> None:
        integer = kind == "int_range"
        for name in ("low", "high"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
                self._error(f"argument '{name}': expected {'an integer' if integer else 'a number'}, "
                            f"received {_show(value)}", name)
        if not isinstance(self.log, bool):
            self._error(f"argument 'log': expected true or false, received {_show(self.log)}", "log")
        if self.step is not None and (isinstance(self.step, bool) or not isinstance(self.step, (int, float))
                                      or (integer and not isinstance(self.step, int))):
            self._error(f"argument 'step': expected {'an integer' if integer else 'a number or none'}, "
                        f"received {_show(self.step)}", "step")
        if not self.ok:
            return
        for name in ("low", "high", "step"):
            value = getattr(self, name)
            if value is None:
                continue
            if not math.isfinite(value):
                self._error(f"argument '{name}': expected a finite number, received {value}", name)
            elif integer and abs(value) > MAX_BOUND:
                self._error(f"argument '{name}': {value} is beyond ±2**53 ({MAX_BOUND:,}), the integers a point "
                            "holds exactly (Optuna and JSON keep numbers as float64)", name)
        if not self.ok:
            return
        if self.low > self.high:
            self._error(f"low {self.low} is greater than high {self.high}", "high", "write the smaller bound first")
        if self.log and self.low <= 0:
            self._error(f"a log-scaled range needs low > 0, received low {self.low}", "low",
                        "a log scale cannot include 0 or negative values")
        if self.step is not None and self.step <= 0:
            self._error(f"argument 'step': expected a value > 0, received {self.step}", "step")
        if not self.ok:
            return
        if self.log and self.step is not None and "step" in self.spans:
            self._error("give step or log=true, not both", "step", "a log-scaled range has no step")
        elif self.step is not None and not _multiple(self.high - self.low, self.step, self.low, self.high):
            span = (self.high - self.low) // self.step * self.step + self.low
            self._error(f"step {self.step} does not divide high - low ({self.high} - {self.low})", "step",
                        f"make high {_clean(span)} or {_clean(span + self.step)}")
        elif self.step is not None and _steps(self.low, self.high, self.step) > MAX_BOUND:
            self._error(f"step {self.step} makes more than 2**53 values in [{_clean(self.low)}, "
                        f"{_clean(self.high)}]: too many to count or draw from", "step",
                        "give a larger step, or no step (a continuous range)")
        if self.ok and kind != "int_range" and not math.isfinite(float(self.high) - float(self.low)):
            self._error(f"the range [{_clean(self.low)}, {_clean(self.high)}] is wider than the largest float",
                        "high", "search a narrower range, or a log-scaled one")


def _steps(low: int | float, high: int | float, step: int | float) -> int:
    """How many steps of ``step`` from ``low`` to ``high`` (decimally, as ``_multiple`` counts them)."""
    if isinstance(low, int) and isinstance(high, int) and isinstance(step, int):
        return (high - low) // step
    return int((Decimal(repr(float(high))) - Decimal(repr(float(low)))) / Decimal(repr(float(step))))


def _multiple(width: int | float, step: int | float, low: int | float, high: int | float) -> bool:
    """Whether ``width`` is a whole number of ``step``s, decimally (0.3 is three steps of 0.1)."""
    if isinstance(width, int) and isinstance(step, int):
        return width % step == 0
    ratio = (Decimal(repr(float(high))) - Decimal(repr(float(low)))) / Decimal(repr(float(step)))
    return ratio == ratio.to_integral_value()


def _clean(value: int | float) -> str:
    return str(value) if isinstance(value, int) else repr(round(value, 12))


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Sym):
        return f"name '{value.name}'"
    if isinstance(value, str):
        return f'string "{value}"'
    if isinstance(value, tuple):
        return "a list"
    if type(value).__name__ == "CallVal":
        return f"call {value.func}(...)"  # type: ignore[attr-defined]
    return repr(value)


def _key_span(arg: ast.Arg) -> Span:
    """Where a keyword argument's name is written."""
    s = arg.span
    return Span(s.path, s.line, s.column, s.line, s.column + len(arg.name or ""))
