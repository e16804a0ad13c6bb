"""How a name or call in a spec becomes an activation, initializer, regularizer or schedule.

``relu`` and ``relu()`` mean the same; ``leaky_relu(alpha=0.1)``, ``random_normal(0, 0.1)``,
``l2(1e-4)``, ``cosine(decay_steps=1000)`` take their arguments like any call.
"""

from __future__ import annotations

import typing
from contextvars import ContextVar

from compiler.ir import training as tr
from compiler.ir import values as iv
from compiler.passes.bind import UNDEFINED_HINTS, VALUE_KINDS, BindError, bind, call_parts, choose
from compiler.passes.evaluate import CallVal, Sym, Val
from spec_lang.diagnostics import did_you_mean

ACTIVATION_KINDS = typing.get_args(iv.ActivationKind)
ACTIVATION_ARGS = {"leaky_relu": ("alpha",), "elu": ("alpha",), "gelu": ("approximate",)}
ACTIVATION_DEFAULTS = {"leaky_relu": {"alpha": 0.2}, "elu": {"alpha": 1.0}}

INITIALIZER_CLASSES = {
    "auto": iv.Auto, "zeros": iv.ConstantInit, "ones": iv.ConstantInit, "constant": iv.ConstantInit,
    "random_normal": iv.RandomNormal, "truncated_normal": iv.RandomNormal, "random_uniform": iv.RandomUniform,
    **{k: iv.VarianceScaling for k in ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                       "lecun_uniform", "lecun_normal")},
    "orthogonal": iv.Orthogonal,
}
INITIALIZER_ARGS = {
    "auto": ("distribution",), "constant": ("value",), "random_normal": ("mean", "stddev"),
    "truncated_normal": ("mean", "stddev"), "random_uniform": ("minval", "maxval"), "orthogonal": ("gain",),
}
INITIALIZER_DEFAULTS = {"ones": {"value": 1.0}, "zeros": {"value": 0.0}}

REGULARIZER_ARGS = {"l1": ("l1",), "l2": ("l2",), "l1l2": ("l1", "l2")}
REGULARIZER_DEFAULTS = {"l1": {"l1": 0.01}, "l2": {"l2": 0.01}}

SCHEDULE_ARGS = {
    "constant": (), "step": ("step_size", "gamma"), "exponential": ("decay_steps", "decay_rate", "staircase"),
    "cosine": ("decay_steps", "alpha"), "warmup": ("steps", "then", "start"),
}

# The constants a spec defines, for "did you mean" on a misspelled one.
KNOWN_CONSTANTS: ContextVar[tuple[str, ...]] = ContextVar("KNOWN_CONSTANTS", default=())


def bind_kind(val: Val, what: str, classes: dict[str, type], args: dict[str, tuple[str, ...]],
              defaults: dict[str, dict] | None = None, aliases: dict[str, str] | None = None,
              noun: str = "value"):
    """A name or call whose name selects an IR class (``kind``) and whose arguments fill it."""
    name, name_span, call_args, call_kwargs = call_parts(val)
    kind = choose(Val(Sym(name), name_span), tuple(classes), what, aliases, noun)
    names = args.get(kind, ())
    return bind(classes[kind], call_args, call_kwargs, f"{noun} {kind}", val.span, positional=names,
                allowed=list(names), fixed={"kind": kind}, defaults=(defaults or {}).get(kind))


def to_activation(val: Val, what: str) -> iv.ActivationFn:
    return bind_kind(val, what, {k: iv.ActivationFn for k in ACTIVATION_KINDS}, ACTIVATION_ARGS,
                     ACTIVATION_DEFAULTS, iv.ACTIVATION_ALIASES, "activation")


def to_initializer(val: Val, what: str):
    return bind_kind(val, what, INITIALIZER_CLASSES, INITIALIZER_ARGS, INITIALIZER_DEFAULTS, noun="initializer")


def to_regularizer(val: Val, what: str) -> iv.Regularizer:
    return bind_kind(val, what, {k: iv.Regularizer for k in REGULARIZER_ARGS}, REGULARIZER_ARGS,
                     REGULARIZER_DEFAULTS, noun="regularizer")


def to_schedule(val: Val, what: str):
    return bind_kind(val, what, tr.SCHEDULE_CLASSES, SCHEDULE_ARGS, noun="schedule")


def constant_hint(val: Val) -> str | None:
    """For a bare name where a number was expected: it is probably a misspelled constant."""
    if isinstance(val.value, Sym):
        close = did_you_mean(val.value.name, KNOWN_CONSTANTS.get())
        return close or f"'{val.value.name}' is not a defined constant"
    return None


def _union_of(annotated) -> object:
    return typing.get_args(annotated)[0]


VALUE_KINDS[iv.ActivationFn] = to_activation
VALUE_KINDS[_union_of(iv.Initializer)] = to_initializer
VALUE_KINDS[iv.Regularizer] = to_regularizer
VALUE_KINDS[_union_of(tr.Schedule)] = to_schedule
VALUE_KINDS["Schedule"] = to_schedule  # the forward reference in WarmupSchedule.then
UNDEFINED_HINTS.append(constant_hint)

__all__ = ["BindError", "CallVal", "bind_kind", "constant_hint", "to_activation", "to_initializer",
           "to_regularizer", "to_schedule"]
