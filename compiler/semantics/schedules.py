"""Learning-rate schedules: one formula per kind, shared by every backend and both emitters.

A schedule gives a *factor* on the optimizer's ``learning_rate`` at optimizer step ``t``, counted
from 0: the first update uses t = 0. This is Keras 3's convention — ``BaseOptimizer`` evaluates a
``LearningRateSchedule`` at ``self.iterations`` *before* ``_backend_apply_gradients`` increments it
(keras/src/optimizers/base_optimizer.py: ``_get_current_learning_rate``, ``_backend_apply_gradients``).
The formulas of the exponential and cosine schedules are those of
keras/src/optimizers/schedules/learning_rate_schedule.py (``ExponentialDecay``, ``CosineDecay``
without warmup), divided by the initial learning rate.

Each formula is written once over an operations namespace ``ops`` (``floor``, ``power``, ``minimum``,
``maximum``, ``cos``, ``where``, ``pi``) and the arithmetic operators: :data:`PYTHON` evaluates it on
Python numbers (the loop, the NumPy and PyTorch backends), the Keras backend passes ``keras.ops`` on
the step tensor, and the emitters pass a namespace that writes the same operations as source.
"""

from __future__ import annotations

import math
import operator
from typing import Callable

from compiler.ir.training import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    StepSchedule,
    WarmupSchedule,
)

SCHEDULE_FACTORS: dict[str, Callable] = {}


class PythonOps:
    """The operations of the formulas on Python numbers (``where`` evaluates both branches)."""

    floor = staticmethod(math.floor)
    power = staticmethod(operator.pow)
    minimum = staticmethod(min)
    maximum = staticmethod(max)
    cos = staticmethod(math.cos)
    pi = math.pi

    @staticmethod
    def where(condition, if_true, if_false):
        return if_true if condition else if_false


PYTHON = PythonOps()


def _register(kind: str):
    def wrap(fn):
        SCHEDULE_FACTORS[kind] = fn
        return fn
    return wrap


def factor(schedule, t, ops):
    """The formula of ``schedule``'s kind at step ``t`` with the operations ``ops`` (see the module)."""
    try:
        fn = SCHEDULE_FACTORS[schedule.kind]
    except KeyError:
        raise ValueError(f"unknown learning-rate schedule kind {schedule.kind!r}") from None
    return fn(schedule, t, ops)


def schedule_factor(schedule, step: int) -> float:
    """The factor on the learning rate at optimizer step ``step`` (0-based), per schedule kind:

    - constant:    1
    - step:        gamma ** (step // step_size)
    - exponential: decay_rate ** (step / decay_steps); staircase: decay_rate ** (step // decay_steps)
    - cosine:      (1 − alpha)·½·(1 + cos(π·min(step, decay_steps)/decay_steps)) + alpha
    - warmup:      start + (1 − start)·step/steps for step < steps, else then(step − steps)
    """
    if step < 0:
        raise ValueError(f"optimizer step must be >= 0, got {step}")
    return factor(schedule, int(step), PYTHON)


def learning_rate(optimizer, schedule, step: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based):
    ``optimizer.learning_rate · schedule_factor(schedule, step)``."""
    return optimizer.learning_rate * schedule_factor(schedule, step)


@_register("constant")
def _constant(schedule: ConstantSchedule, t, ops):
    """factor = 1."""
    return 1.0


@_register("step")
def _step(schedule: StepSchedule, t, ops):
    """factor = gamma ** ⌊t / step_size⌋ (PyTorch's StepLR, counted in optimizer steps)."""
    return ops.power(schedule.gamma, ops.floor(t / schedule.step_size))


@_register("exponential")
def _exponential(schedule: ExponentialSchedule, t, ops):
    """factor = decay_rate ** p with p = t / decay_steps, floored when staircase (Keras' ExponentialDecay:
    ``p = step / decay_steps; if staircase: p = floor(p); initial_lr * decay_rate ** p``)."""
    p = t / schedule.decay_steps
    if schedule.staircase:
        p = ops.floor(p)
    return ops.power(schedule.decay_rate, p)


@_register("cosine")
def _cosine(schedule: CosineSchedule, t, ops):
    """factor = (1 − alpha)·½·(1 + cos(π·min(t, decay_steps)/decay_steps)) + alpha (Keras' CosineDecay,
    ``_decay_function``: the step is clamped to decay_steps, so the factor stays at alpha afterwards)."""
    completed = ops.minimum(t, schedule.decay_steps) / schedule.decay_steps
    cosine_decayed = 0.5 * (1.0 + ops.cos(ops.pi * completed))
    return (1.0 - schedule.alpha) * cosine_decayed + schedule.alpha


@_register("warmup")
def _warmup(schedule: WarmupSchedule, t, ops):
    """factor = start + (1 − start)·t/steps for t < steps (linear from ``start`` at step 0 towards 1),
    then the nested schedule restarted: then(t − steps); so factor(steps) = then(0)."""
    # Keras' CosineDecay warmup order: total_delta * completed_fraction + initial.
    warm = (1.0 - schedule.start) * (t / schedule.steps) + schedule.start
    after = factor(schedule.then, ops.maximum(t - schedule.steps, 0), ops)
    return ops.where(t < schedule.steps, warm, after)
