"""Bind call arguments to an IR class: positional/keyword matching, type conversion, range checks.

One binder serves layers, activations, initializers, regularizers, losses, optimizers, schedules and
data: the target's Pydantic field annotations say what each argument must be, and the field
constraints (gt, ge, lt, le) give the allowed ranges. Errors read "where: argument 'x': expected ...,
received ..." (Keras' wording), with a did-you-mean for misspelled names.
"""

from __future__ import annotations

import types
import typing
from typing import Any, Callable, Literal, Union

from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import BaseModel, ValidationError

from compiler.passes.evaluate import CallVal, Sym, Val
from spec_lang.diagnostics import closest, did_you_mean
from spec_lang.span import Span


class BindError(Exception):
    """A problem with one argument. Raised for the first problem of a call, it carries the call's
    other problems in ``also``; ``every()`` gives them all, so that no caller reports only one."""

    def __init__(self, message: str, span: Span, hint: str | None = None):
        super().__init__(message)
        self.message, self.span, self.hint = message, span, hint
        self.also: list[BindError] = []

    def every(self) -> list[BindError]:
        """This error and every other error of the same call (nested calls included), in order."""
        return [self, *self.also]


class _Unevaluated:
    """The value of an argument whose expression could not be evaluated (that error is reported)."""

    def __repr__(self) -> str:
        return "UNEVALUATED"


# Stands for such an argument: ``bind`` counts it as given and checks nothing else about it, so the
# call's other arguments are still checked and no "missing required argument" follows.
UNEVALUATED = _Unevaluated()


# How an unknown choice is named in messages ("unknown metric 'acuracy'"), by its Literal type.
LITERAL_NOUNS: dict[Any, str] = {}

# Converters for value kinds that are IR models themselves (activation, initializer, ...),
# registered by the module that defines how a symbol or call becomes that kind.
VALUE_KINDS: dict[Any, Callable[[Val, str], Any]] = {}
UNDEFINED_HINTS: list[Callable[[Val], str | None]] = []  # a hint for a bare name where a number was expected


def bind(cls: type[BaseModel], call_args: tuple[Val, ...], call_kwargs: tuple[tuple[str, Val], ...],
         where: str, span: Span, *, positional: tuple[str, ...], allowed: list[str] | None = None,
         fixed: dict[str, Any] | None = None, defaults: dict[str, Any] | None = None,
         errors: list[BindError] | None = None, arg_word: str = "argument") -> BaseModel | None:
    """Build ``cls`` from a call's arguments.

    ``allowed`` are the argument names the call may use (default: every field not in ``fixed``),
    ``fixed`` are set by the caller (``kind``, ``span``), ``defaults`` override the class defaults.

    Every problem of the call is found, each at its own argument: an unknown name, a value of the
    wrong type, an unknown choice, a value out of range (checked for every argument that converted,
    even when another argument failed), problems inside nested calls (``l2(-1)``). They are appended
    to ``errors`` when given; else the first is raised, carrying the others (``BindError.every``).
    An argument whose value is ``UNEVALUATED`` counts as given and is not checked.
    """
    fixed = fixed or {}
    sig = _signature(cls)
    converters, required = sig.converters, sig.required
    allowed = allowed if allowed is not None else [f for f in sig.fields if f not in fixed]
    found: list[BindError] = []
    values: dict[str, Any] = dict(defaults or {})
    spans: dict[str, Span] = {}
    if len(call_args) > len(positional):
        extra = call_args[len(positional)]
        takes = (f"takes at most {len(positional)} positional argument{'s' if len(positional) != 1 else ''}"
                 if positional else "takes no positional arguments")
        names = f" ({', '.join(positional)})" if positional else ""
        found.append(BindError(f"{where} {takes}{names}, received {len(call_args)}", extra.span,
                               "pass the others as name=value"))
    pairs = [*zip(positional, call_args), *call_kwargs]
    meant: set[str] = set()  # what misspelled names were probably meant to be
    for name, val in pairs:
        if name not in allowed:
            guess = closest(name, allowed)
            meant.add(guess or "")
            hint = (f"did you mean '{guess}'?" if guess else
                    "it takes " + ", ".join(allowed) if allowed else "it takes none")
            # A problem with a keyword's name is shown at the name.
            found.append(BindError(f"{where} has no {arg_word} '{name}'", val.key_span or val.span, hint))
            continue
        if name in spans:
            found.append(BindError(f"{where}: {arg_word} '{name}' is given twice", val.key_span or val.span))
            continue
        spans[name] = val.span
        if val.value is UNEVALUATED:
            continue
        try:
            values[name] = converters[name](val, f"{where}: {arg_word} '{name}'")
        except BindError as exc:
            found.extend(exc.every())
    missing = [f for f in allowed if f in required and f not in spans and f not in fixed]
    for name in missing:
        if name not in meant:  # "has no argument 'decay_step'; did you mean 'decay_steps'?" says it already
            found.append(BindError(f"{where}: missing required {arg_word} '{name}'", span))
    unchecked = found or not spans.keys() <= values.keys()
    try:
        result = cls.model_validate({**values, **fixed})
    except ValidationError as exc:
        # With other problems, only the range errors of arguments that converted are news: a field
        # left out by a failed argument is "missing", and rules across fields would judge defaults.
        converted = {name for name in spans if name in values} if unchecked else None
        found.extend(_range_errors(exc, where, spans, span, arg_word, only=converted))
    else:
        if not unchecked:
            return result
    if not found:  # only arguments that could not be evaluated, already reported
        return None
    if errors is None:
        first = found[0]
        first.also = found[1:]
        raise first
    errors.extend(found)
    return None


def _range_errors(exc: ValidationError, where: str, spans: dict, span: Span, arg_word: str,
                  only: set[str] | None = None) -> list[BindError]:
    """The validation errors as messages; with ``only``, just those of these fields (never "missing")."""
    out = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err["loc"] else ""
        if only is not None and (field not in only or err["type"] == "missing"):
            continue
        ctx = err.get("ctx", {})
        phrase = {
            "greater_than": f"a value > {ctx.get('gt')}", "greater_than_equal": f"a value >= {ctx.get('ge')}",
            "less_than": f"a value < {ctx.get('lt')}", "less_than_equal": f"a value <= {ctx.get('le')}",
            "too_short": f"at least {ctx.get('min_length')} item(s)",
        }.get(err["type"], err["msg"].lower())
        if err["type"] == "value_error":  # a validator's own message says what is wrong
            reason = str(ctx.get("error", err["msg"]))
            out.append(BindError(f"{where}: {arg_word} '{field}': {reason}", spans.get(field, span)))
            continue
        received = err.get("input")
        shown = "an empty list" if err["type"] == "too_short" else _show(received)
        out.append(BindError(f"{where}: {arg_word} '{field}': expected {phrase}, received {shown}",
                             spans.get(field, span)))
    return out


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (tuple, list)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


class _Signature:
    """What ``bind`` needs of an IR class, worked out once per class: its fields, the required ones, and
    a converter per field (``converter``)."""

    def __init__(self, cls: type[BaseModel]):
        self.fields = cls.model_fields
        self.required = frozenset(name for name, f in self.fields.items() if f.is_required())
        self.converters = {name: converter(f.annotation, f.metadata) for name, f in self.fields.items()}


_SIGNATURES: dict[type, _Signature] = {}
_SIGNATURES_KINDS = [0]  # len(VALUE_KINDS) when they were made: registering a value kind remakes them


def _signature(cls: type[BaseModel]) -> _Signature:
    if _SIGNATURES_KINDS[0] != len(VALUE_KINDS):
        _SIGNATURES.clear()
        _SIGNATURES_KINDS[0] = len(VALUE_KINDS)
    sig = _SIGNATURES.get(cls)
    if sig is None:
        sig = _SIGNATURES[cls] = _Signature(cls)
    return sig


def convert(annotation: Any, val: Val, what: str, metadata: list | None = None) -> Any:
    """Convert ``val`` to a value of type ``annotation`` (a Pydantic field type)."""
    return converter(annotation, metadata)(val, what)


def converter(annotation: Any, metadata: list | None = None) -> Callable[[Val, str], Any]:
    """A function ``(val, what) -> value`` that converts a ``Val`` to type ``annotation`` (a Pydantic
    field type; ``metadata``: its constraints) or raises ``BindError`` at the value.

    The annotation is taken apart here, once per field, so that binding a thousand layers does not
    inspect the same types a thousand times; value kinds (``VALUE_KINDS``) are looked up here too.
    """
    if isinstance(annotation, typing.ForwardRef):  # a recursive kind, e.g. warmup's ``then: "Schedule"``
        annotation = annotation.__forward_arg__
    if isinstance(annotation, str):
        return _kind_converter(annotation)
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return converter(base, meta)
    if annotation in VALUE_KINDS:
        return _kind_converter(annotation)
    if origin in (Union, types.UnionType):
        return _union_converter(annotation, metadata)
    if annotation is bool:
        return _to_bool
    if annotation is int:
        phrase = _int_phrase(metadata)
        return lambda val, what: _to_int(val, what, phrase)
    if annotation is float:
        return _to_float
    if annotation is str:
        return _to_str
    if origin is Literal:
        choices = typing.get_args(annotation)
        return lambda val, what: choose(val, choices, what, noun=LITERAL_NOUNS.get(annotation, "value"))
    if origin is tuple:
        return _tuple_converter(annotation)

    def cannot(val: Val, what: str) -> Any:  # pragma: no cover - every field type of the IR is handled above
        raise BindError(f"{what}: cannot take {val.describe()}", val.span)
    return cannot


def _union_converter(annotation: Any, metadata: list | None) -> Callable[[Val, str], Any]:
    """``X | None`` takes ``none``; of several types, the first that the value fits (``int | tuple[int, ...]``:
    1 or [1, 2]), and the error names them all."""
    args = typing.get_args(annotation)
    options = [a for a in args if a is not type(None)]
    nullable = len(options) < len(args)
    converters = [converter(o, metadata) for o in options]
    phrases = [_type_phrase(o) for o in options] + (["none"] if nullable else [])
    only = converters[0] if len(converters) == 1 else None

    def convert_union(val: Val, what: str) -> Any:
        if nullable and isinstance(val.value, Sym) and val.value.name == "none":
            return None
        if only is not None:
            return only(val, what)
        for convert_option in converters:
            try:
                return convert_option(val, what)
            except BindError:
                continue
        raise _expected(what, ", ".join(phrases[:-1]) + " or " + phrases[-1], val)
    return convert_union


def _to_bool(val: Val, what: str) -> bool:
    if isinstance(val.value, bool):
        return val.value
    raise _expected(what, "true or false", val)


def _to_int(val: Val, what: str, phrase: str) -> int:
    value = val.value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    hint = "use // for integer division" if isinstance(value, float) and value.is_integer() else None
    raise _expected(what, phrase, val, hint or _undefined_hint(val))


def _to_float(val: Val, what: str) -> float:
    value = val.value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an integer beyond the float range (about 1.8e308)
            raise BindError(f"{what}: number too large", val.span) from None
    raise _expected(what, "a number", val, _undefined_hint(val))


def _to_str(val: Val, what: str) -> str:
    if isinstance(val.value, str):
        return val.value
    if isinstance(val.value, Sym):
        return val.value.name
    raise _expected(what, "a string", val)


def _type_phrase(annotation: Any) -> str:
    """How a type is named in 'expected ...' messages."""
    if typing.get_origin(annotation) is tuple:
        item = typing.get_args(annotation)[0]
        return "a list of " + {int: "integers", float: "numbers"}.get(item, "values")
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(annotation, "a value")


# Value kinds already built, by kind and the value written: ``activation=relu`` on a thousand layers is
# bound once. Only results that carry no source position are kept (they are the same object wherever
# the value is written; IR nodes are frozen), and only successes: errors name their argument.
_KIND_CACHES: dict[Any, dict[tuple, Any]] = {}  # one per kind, each of at most _KIND_CACHE_SIZE values
_KIND_CACHE_SIZE = 4096


def _kind_converter(annotation: Any) -> Callable[[Val, str], Any]:
    """The converter of a value kind (``VALUE_KINDS[annotation]``), through the kind's cache."""
    cache = _KIND_CACHES.setdefault(annotation, {})

    def convert_kind(val: Val, what: str) -> Any:
        key = _value_key(val.value)
        if key is not None:
            cached = cache.get(key)
            if cached is not None:
                return cached
        result = VALUE_KINDS[annotation](val, what)
        if key is not None and result is not None and "span" not in getattr(type(result), "model_fields", {"span": 0}):
            if len(cache) >= _KIND_CACHE_SIZE:
                cache.clear()
            cache[key] = result
        return result
    return convert_kind


def _value_key(value: Any) -> tuple | None:
    """What ``value`` says, without where it is written (hashable), or None for what is not kept."""
    cls = value.__class__
    if cls is Sym:
        return ("name", value.name)
    if cls is str or cls is int or cls is bool:
        return (cls, value)  # the class: 1 is not True, nor "1"
    if cls is float:
        return (cls, repr(value))  # repr: -0.0 is not 0.0
    if cls is CallVal:
        args = tuple([_value_key(v.value) for v in value.args])
        kwargs = tuple([(k, _value_key(v.value)) for k, v in value.kwargs])
        if None in args or any(k is None for _, k in kwargs):
            return None
        return ("call", value.func, args, kwargs)
    if cls is tuple:
        items = tuple([_value_key(v.value) for v in value])
        return None if None in items else ("list", items)
    return None


def _tuple_converter(annotation: Any) -> Callable[[Val, str], tuple]:
    """``tuple[T, ...]`` takes a list; a fixed-size ``tuple[int, int]`` a list of that size, or one integer
    that means the same on every axis (kernel_size, strides, ...)."""
    items = typing.get_args(annotation)
    if len(items) == 2 and items[1] is Ellipsis:
        convert_item = converter(items[0])

        def convert_list(val: Val, what: str) -> tuple:
            if not isinstance(val.value, tuple):
                raise _expected(what, "a list such as [28, 28, 1]", val)
            return tuple([convert_item(v, what) for v in val.value])
        return convert_list
    converters = [converter(t) for t in items]

    def convert_fixed(val: Val, what: str) -> tuple:
        if isinstance(val.value, int) and not isinstance(val.value, bool):
            return tuple([c(val, what) for c in converters])
        if isinstance(val.value, tuple) and len(val.value) == len(items):
            return tuple([c(v, what) for c, v in zip(converters, val.value)])
        raise _expected(what, f"an integer or a list of {len(items)} integers", val)
    return convert_fixed


def choose(val: Val, choices: tuple[str, ...], what: str, aliases: dict[str, str] | None = None,
           noun: str = "value") -> str:
    """A name (bare or quoted) that must be one of ``choices`` (or an alias of one)."""
    aliases = aliases or {}
    name = val.value.name if isinstance(val.value, Sym) else val.value if isinstance(val.value, str) else None
    if name is None:
        raise _expected(what, "one of " + ", ".join(choices), val)
    name = aliases.get(name, name)
    if name not in choices:
        hint = did_you_mean(name, [*choices, *aliases]) or "expected one of " + ", ".join(choices)
        raise BindError(f"{what}: unknown {noun} '{name}'", val.span, hint)
    return name


def call_parts(val: Val) -> tuple[str, Span, tuple[Val, ...], tuple[tuple[str, Val], ...]]:
    """A name or call as (name, name span, args, kwargs): ``relu`` and ``relu()`` are the same."""
    v = val.value
    if isinstance(v, CallVal):
        return v.func, v.func_span, v.args, v.kwargs
    if isinstance(v, Sym):
        return v.name, val.span, (), ()
    if isinstance(v, str):
        return v, val.span, (), ()
    raise BindError("expected a name or a call", val.span)


def _int_phrase(metadata: list | None) -> str:
    for m in metadata or []:
        if isinstance(m, Gt) and m.gt == 0:
            return "a positive integer"
        if isinstance(m, Ge) and m.ge == 0:
            return "a non-negative integer"
    return "an integer"


def _undefined_hint(val: Val) -> str | None:
    """The first hint a registered ``UNDEFINED_HINTS`` function has for ``val`` (the constants are known
    only to ``compiler.passes.value_kinds``, which registers its hint, as it registers its value kinds)."""
    return next((hint for f in UNDEFINED_HINTS if (hint := f(val)) is not None), None)


def _expected(what: str, expected: str, val: Val, hint: str | None = None) -> BindError:
    return BindError(f"{what}: expected {expected}, received {val.describe()}", val.span, hint)


__all__ = ["BindError", "UNDEFINED_HINTS", "UNEVALUATED", "VALUE_KINDS", "bind", "call_parts", "choose", "convert", "Ge", "Gt", "Le", "Lt", "MinLen"]
