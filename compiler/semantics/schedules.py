"""Learning-rate schedules, shared by all three backends (pure Python, no NumPy).

A schedule gives a *factor* on the optimizer's ``learning_rate`` at optimizer step ``t``, counted
from 0: the first update uses t = 0. This is Keras 3's convention — ``BaseOptimizer`` evaluates a
``LearningRateSchedule`` at ``self.iterations`` *before* ``_backend_apply_gradients`` increments it
(keras/src/optimizers/base_optimizer.py: ``_get_current_learning_rate``, ``_backend_apply_gradients``).
The formulas of the exponential and cosine schedules are those of
keras/src/optimizers/schedules/learning_rate_schedule.py (``ExponentialDecay``, ``CosineDecay``
without warmup), divided by the initial learning rate.
"""

from __future__ import annotations

import math
from typing import Callable

from compiler.ir.training import (
    ConstantSchedule,
    CosineSchedule,
    ExponentialSchedule,
    StepSchedule,
    WarmupSchedule,
)

SCHEDULE_FACTORS: dict[str, Callable[[object, int], float]] = {}


def _register(kind: str):
    def wrap(fn):
        SCHEDULE_FACTORS[kind] = fn
        return fn
    return wrap


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
    try:
        fn = SCHEDULE_FACTORS[schedule.kind]
    except KeyError:
        raise ValueError(f"unknown learning-rate schedule kind {schedule.kind!r}") from None
    return fn(schedule, int(step))


def learning_rate(optimizer, schedule, step: int) -> float:
    """The learning rate of optimizer step ``step`` (0-based):
    ``optimizer.learning_rate · schedule_factor(schedule, step)``."""
    return optimizer.learning_rate * schedule_factor(schedule, step)


@_register("constant")
def _constant(schedule: ConstantSchedule, step: int) -> float:
    """factor = 1."""
    return 1.0


@_register("step")
def _step(schedule: StepSchedule, step: int) -> float:
    """factor = gamma ** ⌊step / step_size⌋ (PyTorch's StepLR, counted in optimizer steps)."""
    return schedule.gamma ** (step // schedule.step_size)


@_register("exponential")
def _exponential(schedule: ExponentialSchedule, step: int) -> float:
    """factor = decay_rate ** p with p = step / decay_steps, floored when staircase (Keras' ExponentialDecay:
    ``p = step / decay_steps; if staircase: p = floor(p); initial_lr * decay_rate ** p``)."""
    p = step / schedule.decay_steps
    if schedule.staircase:
        p = math.floor(p)
    return schedule.decay_rate ** p


@_register("cosine")
def _cosine(schedule: CosineSchedule, step: int) -> float:
    """factor = (1 − alpha)·½·(1 + cos(π·min(step, decay_steps)/decay_steps)) + alpha (Keras' CosineDecay,
    ``_decay_function``: the step is clamped to decay_steps, so the factor stays at alpha afterwards)."""
    completed = min(step, schedule.decay_steps) / schedule.decay_steps
    cosine_decayed = 0.5 * (1.0 + math.cos(math.pi * completed))
    return (1.0 - schedule.alpha) * cosine_decayed + schedule.alpha


@_register("warmup")
def _warmup(schedule: WarmupSchedule, step: int) -> float:
    """factor = start + (1 − start)·step/steps for step < steps (linear from ``start`` at step 0 towards 1),
    then the nested schedule restarted: then(step − steps); so factor(steps) = then(0)."""
    if step < schedule.steps:
        # Keras' CosineDecay warmup order: total_delta * completed_fraction + initial.
        return (1.0 - schedule.start) * (step / schedule.steps) + schedule.start
    return schedule_factor(schedule.then, step - schedule.steps)
