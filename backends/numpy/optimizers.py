"""Optimizers and gradient clipping exactly as Keras 3 computes them, on NumPy arrays updated in place.

One optimizer step (keras/src/optimizers/base_optimizer.py, ``BaseOptimizer._backend_apply_gradients``):

1. the gradients are clipped (``_clip_gradients``; here :func:`clip_gradients`, called by the trainer);
2. decoupled weight decay, when the optimizer has a nonzero ``weight_decay``: ``w ← w − w·wd·lr``
   (``_apply_weight_decay``), before the update and with the same learning rate;
3. the optimizer's ``update_step`` with the learning rate of the *current* step: a schedule is evaluated at
   ``iterations`` before it is incremented (``_get_current_learning_rate``), so the first update uses t = 0
   (see :mod:`compiler.semantics.schedules`);
4. ``iterations += 1``.

Every subclass's docstring gives its update; each follows the order of operations of Keras' ``update_step``
in keras/src/optimizers/<name>.py, so that results agree to rounding. Gradients are cast to the parameter's
dtype first (``ops.cast(gradient, variable.dtype)``); slot arrays have the parameter's dtype. Per-step
scalars (lr, Adam's α) are Python floats, which NumPy applies in the arrays' dtype.

Where PyTorch differs (tested in tests/test_optimizers.py):

- Adam/AdamW: Keras adds ε to √v (the un-bias-corrected second moment) and folds the bias corrections into
  α; PyTorch adds ε to √v̂ = √(v/(1−β₂ᵗ)). Identical only when ε is negligible.
- RMSprop and Adagrad: Keras puts ε inside the square root (√(a + ε)); PyTorch outside (√a + ε).
- SGD with momentum and RMSprop with momentum: Keras multiplies the learning rate into the velocity, PyTorch
  applies it to the whole velocity; identical only for a constant learning rate.
- Weight decay: Keras' is decoupled (``w −= w·wd·lr``); torch.optim.SGD's ``weight_decay`` is an L2 term
  added to the gradient — the same only without momentum. torch.optim.AdamW is decoupled like Keras.
- Global-norm clipping: Keras scales by clip_norm·min(1/‖g‖, 1/clip_norm); torch's clip_grad_norm_ by
  min(1, clip_norm/(‖g‖ + 1e-6)).
"""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np

from compiler.ir.training import SGD, Adagrad, Adam, AdamW, RMSprop

# ---- gradient clipping -----------------------------------------------------------------------


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """‖g‖ = √(Σ over all arrays of Σ g²) (Keras' ``global_norm``); each array's sum in its own dtype."""
    total = 0.0
    for g in grads.values():
        flat = g.reshape(-1)
        total += float(np.dot(flat, flat))
    return math.sqrt(total)


def clip_gradients(
    grads: dict[str, np.ndarray], clip_norm: float | None, clip_value: float | None
) -> dict[str, np.ndarray]:
    """The clipped gradients, as new arrays (the inputs are never modified).

    - ``clip_norm`` (Keras' ``global_clipnorm``, keras/src/optimizers/base_optimizer.py
      ``clip_by_global_norm``): every gradient is multiplied by
      ``scale = clip_norm · min(1/‖g‖, 1/clip_norm)`` with ‖g‖ the global L2 norm over all arrays, i.e.
      clip_norm / max(‖g‖, clip_norm); a non-finite norm makes the scale NaN, as in Keras.
      (PyTorch's clip_grad_norm_ uses min(1, clip_norm / (‖g‖ + 1e-6)) instead.)
    - ``clip_value``: each element clamped to [−clip_value, clip_value] (``ops.clip``).
    - neither: copies.

    Keras (and the compiler) allow only one of the two; giving both is an error.
    """
    if clip_norm is not None and clip_value is not None:
        raise ValueError("give clip_norm or clip_value, not both")
    if clip_norm is not None:
        if not clip_norm > 0:
            raise ValueError(f"clip_norm must be > 0, got {clip_norm}")
        norm = global_norm(grads)
        if not math.isfinite(norm):
            scale = math.nan
        else:
            inv_norm = 1.0 / norm if norm > 0 else math.inf
            scale = clip_norm * min(inv_norm, 1.0 / clip_norm)
        return {name: g * scale for name, g in grads.items()}
    if clip_value is not None:
        if not clip_value > 0:
            raise ValueError(f"clip_value must be > 0, got {clip_value}")
        return {name: np.clip(g, -clip_value, clip_value) for name, g in grads.items()}
    return {name: g.copy() for name, g in grads.items()}


# ---- optimizers -------------------------------------------------------------------------------

OPTIMIZERS: dict[str, type[NumpyOptimizer]] = {}


def register(kind: str):
    """Class decorator: the implementation of the IR optimizer ``kind``."""

    def wrap(cls):
        cls.kind = kind
        OPTIMIZERS[kind] = cls
        return cls

    return wrap


def make_optimizer(ir, params: dict[str, np.ndarray]) -> NumpyOptimizer:
    """The NumPy optimizer for the IR optimizer ``ir`` over ``params`` (the trainable parameters)."""
    try:
        cls = OPTIMIZERS[ir.kind]
    except KeyError:
        raise ValueError(f"no NumPy implementation of optimizer {ir.kind!r}") from None
    return cls(ir, params)


class NumpyOptimizer:
    """An optimizer over named NumPy parameters, updated in place.

    ``slots[slot][param]`` are its state arrays (Keras' optimizer variables, under Keras' names), with the
    parameter's shape and dtype; ``iterations`` counts the updates done. Two scratch arrays per dtype,
    shared by all parameters, keep :meth:`apply` free of allocations.
    """

    kind: ClassVar[str]

    def __init__(self, ir, params: dict[str, np.ndarray]):
        if ir.kind != self.kind:
            raise ValueError(f"{type(self).__name__} implements {self.kind!r}, not {ir.kind!r}")
        self.ir = ir
        self.iterations = 0
        self._configure(ir)
        self.weight_decay = float(getattr(ir, "weight_decay", 0.0) or 0.0)
        self.slot_names = tuple(name for name, _ in self._slot_specs())
        self.slots: dict[str, dict[str, np.ndarray]] = {
            slot: {name: np.full_like(p, init) for name, p in params.items()} for slot, init in self._slot_specs()
        }
        largest: dict[np.dtype, int] = {}
        for p in params.values():
            largest[p.dtype] = max(largest.get(p.dtype, 0), p.size)
        buffers = {dt: (np.empty(n, dt), np.empty(n, dt)) for dt, n in largest.items()}
        # name -> (scratch 1, scratch 2, slot arrays in slot_names order)
        self._state: dict[str, tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]] = {}
        for name, p in params.items():
            b1, b2 = buffers[p.dtype]
            self._state[name] = (
                b1[: p.size].reshape(p.shape),
                b2[: p.size].reshape(p.shape),
                tuple(self.slots[slot][name] for slot in self.slot_names),
            )

    # -- what subclasses define
    def _configure(self, ir) -> None:
        """Read the hyperparameters from the IR (called before the slots are made)."""

    def _slot_specs(self) -> list[tuple[str, float]]:
        """(slot name, initial value) of each state array per parameter."""
        return []

    def _begin_step(self, lr: float) -> None:
        """Per-step scalars, computed once before the parameters are updated (``self.iterations`` = t)."""

    def _update(self, w: np.ndarray, g: np.ndarray, lr: float, t1: np.ndarray, t2: np.ndarray,
                slots: tuple[np.ndarray, ...]) -> None:
        raise NotImplementedError

    # -- the step
    def apply(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], learning_rate: float) -> None:
        """One update of every array in ``params`` (in place) with ``grads[name]`` at ``learning_rate`` (this
        step's rate, schedule included): weight decay ``w ← w − w·wd·lr`` first (when wd ≠ 0), then the
        optimizer's update; then ``iterations += 1``."""
        lr = float(learning_rate)
        wd = self.weight_decay
        self._begin_step(lr)
        for name, w in params.items():
            try:
                t1, t2, slots = self._state[name]
            except KeyError:
                raise KeyError(f"parameter {name!r} was not given when the optimizer was made") from None
            g = grads[name]
            if g.shape != w.shape:
                raise ValueError(f"gradient of {name!r} has shape {g.shape}, the parameter {w.shape}")
            if g.dtype != w.dtype:
                g = g.astype(w.dtype)
            if wd:
                # keras/src/optimizers/base_optimizer.py _apply_weight_decay: variable - variable * wd * lr
                np.multiply(w, wd, out=t1)
                t1 *= lr
                w -= t1
            self._update(w, g, lr, t1, t2, slots)
        self.iterations += 1

    # -- checkpoints
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the state: ``"iterations"`` (0-d int64) and ``"<slot>/<param>"`` for every slot array."""
        state = {"iterations": np.array(self.iterations, dtype=np.int64)}
        for slot, arrays in self.slots.items():
            for name, a in arrays.items():
                state[f"{slot}/{name}"] = a.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore a :meth:`state_dict` (copied into this optimizer's arrays; keys and shapes must match)."""
        expected = {"iterations"} | {f"{slot}/{name}" for slot, arrays in self.slots.items() for name in arrays}
        missing, unexpected = expected - state.keys(), state.keys() - expected
        if missing or unexpected:
            raise ValueError(f"optimizer state does not match: missing {sorted(missing)}, "
                             f"unexpected {sorted(unexpected)}")
        for slot, arrays in self.slots.items():
            for name, a in arrays.items():
                src = np.asarray(state[f"{slot}/{name}"])
                if src.shape != a.shape:
                    raise ValueError(f"optimizer state {slot}/{name} has shape {src.shape}, expected {a.shape}")
                np.copyto(a, src)
        self.iterations = int(state["iterations"])


@register("sgd")
class NumpySGD(NumpyOptimizer):
    """keras/src/optimizers/sgd.py ``update_step``:

    - momentum = 0: ``w ← w − g·lr``
    - else:        ``m ← m·momentum − g·lr``; then ``w ← w + m``, or with nesterov
      ``w ← w + (m·momentum − g·lr)`` (with the new m).

    Slot ``momentum`` (only when momentum ≠ 0, as in Keras); weight decay per the base class.
    """

    def _configure(self, ir: SGD):
        self.momentum = float(ir.momentum)
        self.nesterov = bool(ir.nesterov)

    def _slot_specs(self):
        return [("momentum", 0.0)] if self.momentum != 0 else []

    def _update(self, w, g, lr, t1, t2, slots):
        np.multiply(g, lr, out=t1)                      # g·lr
        if not slots:
            w -= t1
            return
        (m,) = slots
        m *= self.momentum
        m -= t1                                         # m ← m·momentum − g·lr
        if self.nesterov:
            np.multiply(m, self.momentum, out=t2)
            t2 -= t1
            w += t2                                     # w ← w + (m·momentum − g·lr)
        else:
            w += m


@register("adam")
class NumpyAdam(NumpyOptimizer):
    """keras/src/optimizers/adam.py ``update_step``, with t = iterations + 1:

    ``α = lr·√(1 − β₂ᵗ)/(1 − β₁ᵗ)``; ``m ← m + (g − m)·(1 − β₁)``; ``v ← v + (g² − v)·(1 − β₂)``;
    amsgrad: ``v̂ ← max(v̂, v)`` and v̂ replaces v below; ``w ← w − (m·α)/(√v + ε)``.

    Slots ``momentum``, ``velocity`` and, with amsgrad, ``velocity_hat`` (all starting at 0).
    """

    def _configure(self, ir: Adam):
        self.beta_1 = float(ir.beta_1)
        self.beta_2 = float(ir.beta_2)
        self.epsilon = float(ir.epsilon)
        self.amsgrad = bool(ir.amsgrad)
        self._alpha = 0.0

    def _slot_specs(self):
        specs = [("momentum", 0.0), ("velocity", 0.0)]
        return specs + [("velocity_hat", 0.0)] if self.amsgrad else specs

    def _begin_step(self, lr):
        local_step = self.iterations + 1
        beta_1_power = self.beta_1 ** local_step
        beta_2_power = self.beta_2 ** local_step
        self._alpha = lr * math.sqrt(1 - beta_2_power) / (1 - beta_1_power)

    def _update(self, w, g, lr, t1, t2, slots):
        m, v = slots[0], slots[1]
        np.subtract(g, m, out=t1)
        t1 *= 1 - self.beta_1
        m += t1                                         # m ← m + (g − m)(1 − β₁)
        np.square(g, out=t1)
        t1 -= v
        t1 *= 1 - self.beta_2
        v += t1                                         # v ← v + (g² − v)(1 − β₂)
        if self.amsgrad:
            v_hat = slots[2]
            np.maximum(v_hat, v, out=v_hat)
            v = v_hat
        np.sqrt(v, out=t1)
        t1 += self.epsilon                              # √v + ε
        np.multiply(m, self._alpha, out=t2)
        t2 /= t1
        w -= t2                                         # w ← w − m·α/(√v + ε)


@register("adamw")
class NumpyAdamW(NumpyAdam):
    """keras/src/optimizers/adamw.py: Adam (see :class:`NumpyAdam`) whose ``weight_decay`` (default 0.004) is
    applied by the base optimizer before the Adam step: ``w ← w − w·wd·lr`` with this step's lr."""

    def _configure(self, ir: AdamW):
        super()._configure(ir)  # the decay itself is the base class's (self.weight_decay)


@register("rmsprop")
class NumpyRMSprop(NumpyOptimizer):
    """keras/src/optimizers/rmsprop.py ``update_step``:

    ``a ← ρ·a + (1 − ρ)·g²``; centered: ``ḡ ← ρ·ḡ + (1 − ρ)·g`` and ``d = a − ḡ² + ε``, else ``d = a + ε``;
    ``Δ = (lr·g)/√d``; momentum > 0: ``v ← momentum·v + Δ``, ``w ← w − v``; else ``w ← w − Δ``.

    Slots ``velocity`` (a), ``momentum`` (v, when momentum > 0) and ``average_gradient`` (ḡ, centered).
    """

    def _configure(self, ir: RMSprop):
        self.rho = float(ir.rho)
        self.momentum = float(ir.momentum)
        self.epsilon = float(ir.epsilon)
        self.centered = bool(ir.centered)

    def _slot_specs(self):
        specs = [("velocity", 0.0)]
        if self.momentum > 0:
            specs.append(("momentum", 0.0))
        if self.centered:
            specs.append(("average_gradient", 0.0))
        return specs

    def _update(self, w, g, lr, t1, t2, slots):
        rho = self.rho
        velocity = slots[0]
        velocity *= rho
        np.square(g, out=t1)
        t1 *= 1 - rho
        velocity += t1                                  # a ← ρa + (1 − ρ)g²
        if self.centered:
            average_grad = slots[-1]
            average_grad *= rho
            np.multiply(g, 1 - rho, out=t2)
            average_grad += t2                          # ḡ ← ρḡ + (1 − ρ)g
            np.square(average_grad, out=t1)
            np.subtract(velocity, t1, out=t1)
            t1 += self.epsilon                          # a − ḡ² + ε
        else:
            np.add(velocity, self.epsilon, out=t1)      # a + ε
        np.sqrt(t1, out=t1)
        np.multiply(g, lr, out=t2)
        t2 /= t1                                        # Δ = lr·g / √d
        if self.momentum > 0:
            momentum = slots[1]
            momentum *= self.momentum
            momentum += t2
            w -= momentum
        else:
            w -= t2


@register("adagrad")
class NumpyAdagrad(NumpyOptimizer):
    """keras/src/optimizers/adagrad.py ``update_step``: ``a ← a + g²``; ``w ← w − (lr·g)/√(a + ε)``.

    Slot ``accumulator`` starting at ``initial_accumulator_value`` (Keras: 0.1).
    """

    def _configure(self, ir: Adagrad):
        self.epsilon = float(ir.epsilon)
        self.initial_accumulator_value = float(ir.initial_accumulator_value)

    def _slot_specs(self):
        return [("accumulator", self.initial_accumulator_value)]

    def _update(self, w, g, lr, t1, t2, slots):
        (accumulator,) = slots
        np.square(g, out=t1)
        accumulator += t1                               # a ← a + g²
        np.add(accumulator, self.epsilon, out=t1)
        np.sqrt(t1, out=t1)                             # √(a + ε)
        np.multiply(g, lr, out=t2)
        t2 /= t1
        w -= t2                                         # w ← w − lr·g/√(a + ε)
