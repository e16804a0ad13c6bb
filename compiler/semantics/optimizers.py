"""Optimizers as Keras 3.15 updates: hyperparameters, checkpointed slots, update rules, gradient clipping.

Every backend and both emitters take the meaning of an optimizer from here: the NumPy reference applies
these functions to its arrays, the PyTorch backend to tensors (where ``torch.optim`` cannot be configured
to the same update), the emitted PyTorch program carries their source (``inspect.getsource``), and the
Keras backend and emitted Keras program build Keras' own optimizer from :func:`keras_arguments`.

One optimizer step (keras/src/optimizers/base_optimizer.py, ``BaseOptimizer._backend_apply_gradients``):

1. the gradients are clipped (:func:`clip_scale` for ``clip_norm``, a clamp for ``clip_value``);
2. decoupled weight decay when the optimizer has a nonzero ``weight_decay`` (:func:`decay`):
   ``w ← w − w·wd·lr``, before the update and with the same learning rate (``_apply_weight_decay``);
3. the update (``update_step``) with the learning rate of the *current* step: a schedule is evaluated at
   ``iterations`` before it is incremented, so the first update uses t = 0
   (:mod:`compiler.semantics.schedules`);
4. ``iterations += 1``.

A rule is three functions (see :class:`Rule`): ``slots(hp)``, the state it keeps per weight (Keras' slot
names and initial values; each slot has the weight's shape and dtype — the checkpointed state, with
``iterations``); ``rate(hp, lr, iterations)``, the one scalar of the step; ``update(xp, w, g, slots, hp,
rate, t1, t2)``, the update of one weight in place. ``hp`` is the IR optimizer (or any object with the same
attributes); ``xp`` is ``numpy`` or ``torch`` — the functions use only ``multiply``, ``subtract``, ``add``,
``square``, ``sqrt``, ``maximum`` with ``out=`` and in-place operators, which both define alike, so that
an update allocates nothing (``t1``, ``t2``: scratch arrays of the weight's shape and dtype). Each follows
the order of operations of Keras' ``update_step`` in keras/src/optimizers/<name>.py, so that results agree
to rounding; per-step scalars are Python floats, applied in the arrays' dtype.

Where PyTorch's own optimizers differ (shown in tests/test_optimizers_vs_torch.py): Adam's ε on √v here,
on √v̂ in torch; RMSprop's and Adagrad's ε inside the square root here, outside in torch; SGD's and
RMSprop's momentum carry the learning rate here, so a changing rate is exact; SGD's weight decay is
decoupled here, an L2 term in torch; global-norm clipping has no +1e-6 here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from compiler.ir.training import OPTIMIZER_CLASSES

NOT_HYPERPARAMETERS = ("kind", "span", "learning_rate")


def hyperparameters(kind: str) -> tuple[str, ...]:
    """The hyperparameters of optimizer ``kind`` besides the learning rate, in the IR's order. Their
    defaults are Keras 3.15's and live once, on the IR class (compiler/ir/training.py)."""
    return tuple(f for f in OPTIMIZER_CLASSES[kind].model_fields if f not in NOT_HYPERPARAMETERS)


def weight_decay(hp) -> float:
    """The decoupled weight decay of an optimizer: its ``weight_decay`` (SGD, AdamW), else 0."""
    return float(getattr(hp, "weight_decay", 0.0) or 0.0)


def keras_arguments(hp) -> dict:
    """Keyword arguments of Keras' optimizer class (``keras.optimizers.<Rule.keras_class>``) for the IR
    optimizer ``hp``, the learning rate left out: every hyperparameter under its own name, except an SGD
    ``weight_decay`` of 0, given as None (Keras' default for SGD: no decay step at all)."""
    args = {name: getattr(hp, name) for name in hyperparameters(hp.kind)}
    if hp.kind == "sgd" and not args["weight_decay"]:
        args["weight_decay"] = None
    return args


# ---- the rules ----------------------------------------------------------------------------------------------
def decay(xp, w, wd, lr, t1):
    """Keras' decoupled weight decay, in place: w ← w − w·wd·lr (``_apply_weight_decay``)."""
    xp.multiply(w, wd, out=t1)
    t1 *= lr
    w -= t1


def learning_rate_as_rate(hp, lr, iterations):
    """The step's scalar of SGD, RMSprop and Adagrad: the learning rate itself."""
    return lr


def sgd_slots(hp):
    """SGD keeps ``momentum`` (starting at 0) when its momentum is not 0, as Keras."""
    return (("momentum", 0.0),) if hp.momentum != 0 else ()


def sgd_update(xp, w, g, slots, hp, rate, t1, t2):
    """keras/src/optimizers/sgd.py: momentum 0: w ← w − g·lr; else m ← m·μ − g·lr, then w ← w + m, or with
    nesterov w ← w + (m·μ − g·lr) with the new m. The rate inside the velocity: a changing rate is exact."""
    xp.multiply(g, rate, out=t1)                 # g·lr
    if not slots:
        w -= t1
        return
    (m,) = slots
    m *= hp.momentum
    m -= t1                                      # m ← m·μ − g·lr
    if hp.nesterov:
        xp.multiply(m, hp.momentum, out=t2)
        t2 -= t1
        w += t2                                  # w ← w + (m·μ − g·lr)
    else:
        w += m


def adam_slots(hp):
    """Adam and AdamW keep ``momentum`` and ``velocity`` and, with amsgrad, ``velocity_hat`` (all from 0)."""
    return (("momentum", 0.0), ("velocity", 0.0)) + ((("velocity_hat", 0.0),) if hp.amsgrad else ())


def adam_rate(hp, lr, iterations):
    """α = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ) with t = iterations + 1 (Keras' ``local_step``)."""
    local_step = iterations + 1
    beta_1_power = hp.beta_1 ** local_step
    beta_2_power = hp.beta_2 ** local_step
    return lr * math.sqrt(1 - beta_2_power) / (1 - beta_1_power)


def adam_update(xp, w, g, slots, hp, rate, t1, t2):
    """keras/src/optimizers/adam.py: m ← m + (g − m)(1 − β₁); v ← v + (g² − v)(1 − β₂); amsgrad:
    v̂ ← max(v̂, v), used for v below; w ← w − m·α/(√v + ε). ε is added to √v (Keras), not to
    √v̂ = √(v/(1 − β₂ᵗ)) (PyTorch). AdamW is the same update after :func:`decay`."""
    m, v = slots[0], slots[1]
    xp.subtract(g, m, out=t1)
    t1 *= 1 - hp.beta_1
    m += t1                                      # m ← m + (g − m)(1 − β₁)
    xp.square(g, out=t1)
    t1 -= v
    t1 *= 1 - hp.beta_2
    v += t1                                      # v ← v + (g² − v)(1 − β₂)
    if hp.amsgrad:
        v_hat = slots[2]
        xp.maximum(v_hat, v, out=v_hat)
        v = v_hat
    xp.sqrt(v, out=t1)
    t1 += hp.epsilon                             # √v + ε
    xp.multiply(m, rate, out=t2)
    t2 /= t1
    w -= t2                                      # w ← w − m·α/(√v + ε)


def rmsprop_slots(hp):
    """RMSprop keeps ``velocity`` (a), ``momentum`` when momentum > 0 and ``average_gradient`` (ḡ) when
    centered, all from 0."""
    return ((("velocity", 0.0),) + ((("momentum", 0.0),) if hp.momentum > 0 else ())
            + ((("average_gradient", 0.0),) if hp.centered else ()))


def rmsprop_update(xp, w, g, slots, hp, rate, t1, t2):
    """keras/src/optimizers/rmsprop.py: a ← ρa + (1 − ρ)g²; centered: ḡ ← ρḡ + (1 − ρ)g and d = a − ḡ² + ε,
    else d = a + ε (ε inside the square root); Δ = lr·g/√d; momentum > 0: v ← μv + Δ, w ← w − v; else
    w ← w − Δ."""
    rho = hp.rho
    velocity = slots[0]
    velocity *= rho
    xp.square(g, out=t1)
    t1 *= 1 - rho
    velocity += t1                               # a ← ρa + (1 − ρ)g²
    if hp.centered:
        average_grad = slots[-1]
        average_grad *= rho
        xp.multiply(g, 1 - rho, out=t2)
        average_grad += t2                       # ḡ ← ρḡ + (1 − ρ)g
        xp.square(average_grad, out=t1)
        xp.subtract(velocity, t1, out=t1)
        t1 += hp.epsilon                         # a − ḡ² + ε
    else:
        xp.add(velocity, hp.epsilon, out=t1)     # a + ε
    xp.sqrt(t1, out=t1)
    xp.multiply(g, rate, out=t2)
    t2 /= t1                                     # Δ = lr·g/√d
    if hp.momentum > 0:
        momentum = slots[1]
        momentum *= hp.momentum
        momentum += t2
        w -= momentum
    else:
        w -= t2


def adagrad_slots(hp):
    """Adagrad keeps ``accumulator``, starting at ``initial_accumulator_value`` (Keras: 0.1; torch: 0)."""
    return (("accumulator", hp.initial_accumulator_value),)


def adagrad_update(xp, w, g, slots, hp, rate, t1, t2):
    """keras/src/optimizers/adagrad.py: a ← a + g²; w ← w − lr·g/√(a + ε) (ε inside the square root)."""
    (accumulator,) = slots
    xp.square(g, out=t1)
    accumulator += t1                            # a ← a + g²
    xp.add(accumulator, hp.epsilon, out=t1)
    xp.sqrt(t1, out=t1)                          # √(a + ε)
    xp.multiply(g, rate, out=t2)
    t2 /= t1
    w -= t2                                      # w ← w − lr·g/√(a + ε)


@dataclass(frozen=True)
class Rule:
    """An optimizer's meaning: Keras' class (``keras.optimizers.<keras_class>``), the slots it keeps per
    weight, the step's scalar and the update of one weight (each function's docstring states it)."""

    keras_class: str
    slots: Callable
    rate: Callable
    update: Callable


RULES: dict[str, Rule] = {
    "sgd": Rule("SGD", sgd_slots, learning_rate_as_rate, sgd_update),
    "adam": Rule("Adam", adam_slots, adam_rate, adam_update),
    "adamw": Rule("AdamW", adam_slots, adam_rate, adam_update),
    "rmsprop": Rule("RMSprop", rmsprop_slots, learning_rate_as_rate, rmsprop_update),
    "adagrad": Rule("Adagrad", adagrad_slots, learning_rate_as_rate, adagrad_update),
}


def rule(hp) -> Rule:
    """The rule of the IR optimizer ``hp`` (a ValueError names an unknown kind)."""
    try:
        return RULES[hp.kind]
    except KeyError:
        raise ValueError(f"unknown optimizer kind {hp.kind!r}") from None


# ---- gradient clipping ------------------------------------------------------------------------------------
def clip_scale(norm, clip_norm):
    """The factor on every gradient for ``clip_norm`` (Keras' ``global_clipnorm``, ``clip_by_global_norm``):
    clip_norm·min(1/‖g‖, 1/clip_norm) = clip_norm/max(‖g‖, clip_norm), with ‖g‖ = √(Σ g²) over all gradients
    together; NaN when the norm is not finite (as Keras); 1 for all-zero gradients. (PyTorch's
    ``clip_grad_norm_`` uses min(1, clip_norm/(‖g‖ + 1e-6)) instead.)"""
    if not math.isfinite(norm):
        return math.nan
    inv_norm = 1.0 / norm if norm > 0 else math.inf
    return clip_norm * min(inv_norm, 1.0 / clip_norm)


def check_clipping(clip_norm, clip_value) -> None:
    """Keras (and the compiler) allow ``clip_norm`` or ``clip_value``, each > 0, not both."""
    if clip_norm is not None and clip_value is not None:
        raise ValueError("give clip_norm or clip_value, not both")
    if clip_norm is not None and not clip_norm > 0:
        raise ValueError(f"clip_norm must be > 0, got {clip_norm}")
    if clip_value is not None and not clip_value > 0:
        raise ValueError(f"clip_value must be > 0, got {clip_value}")
