"""The optimizers and gradient clipping of compiler.semantics.optimizers applied to NumPy arrays, in place.

The meaning (Keras 3's update rules, slots, weight decay, the clipping scale) lives in
:mod:`compiler.semantics.optimizers`; this module keeps the arrays: each weight's slots, two scratch arrays
per dtype shared by all weights (an update allocates nothing), ``iterations``, the checkpointed state.
Gradients are cast to the weight's dtype first (``ops.cast(gradient, variable.dtype)``, as Keras).
"""

from __future__ import annotations

import math

import numpy as np

from compiler.semantics import optimizers as rules
from compiler.semantics.optimizers import check_clipping, clip_scale

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
    """The clipped gradients, as new arrays (the inputs are never modified): ``clip_norm`` multiplies every
    gradient by :func:`compiler.semantics.optimizers.clip_scale` of the global norm; ``clip_value`` clamps
    each element to [−clip_value, clip_value] (``ops.clip``); neither: copies. Both is an error."""
    check_clipping(clip_norm, clip_value)
    if clip_norm is not None:
        scale = clip_scale(global_norm(grads), clip_norm)
        return {name: g * scale for name, g in grads.items()}
    if clip_value is not None:
        return {name: np.clip(g, -clip_value, clip_value) for name, g in grads.items()}
    return {name: g.copy() for name, g in grads.items()}


# ---- optimizers -------------------------------------------------------------------------------

OPTIMIZERS = rules.RULES  # every kind the NumPy backend implements: all of them, through the shared rules


def make_optimizer(ir, params: dict[str, np.ndarray]) -> NumpyOptimizer:
    """The NumPy optimizer for the IR optimizer ``ir`` over ``params`` (the trainable parameters)."""
    if ir.kind not in rules.RULES:
        raise ValueError(f"no NumPy implementation of optimizer {ir.kind!r}")
    return NumpyOptimizer(ir, params)


class NumpyOptimizer:
    """An optimizer over named NumPy parameters, updated in place by the IR optimizer's rule.

    ``slots[slot][param]`` are its state arrays (Keras' optimizer variables, under Keras' names), with the
    parameter's shape and dtype; ``iterations`` counts the updates done. Two scratch arrays per dtype,
    shared by all parameters, keep :meth:`apply` free of allocations.
    """

    def __init__(self, ir, params: dict[str, np.ndarray]):
        self.ir = ir
        self.kind = ir.kind
        self.rule = rules.rule(ir)
        self.iterations = 0
        self.weight_decay = rules.weight_decay(ir)
        specs = self.rule.slots(ir)
        self.slot_names = tuple(name for name, _ in specs)
        self.slots: dict[str, dict[str, np.ndarray]] = {
            slot: {name: np.full_like(p, init) for name, p in params.items()} for slot, init in specs
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

    # -- the step
    def apply(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], learning_rate: float) -> None:
        """One update of every array in ``params`` (in place) with ``grads[name]`` at ``learning_rate`` (this
        step's rate, schedule included): weight decay ``w ← w − w·wd·lr`` first (when wd ≠ 0), then the
        optimizer's update; then ``iterations += 1``."""
        lr = float(learning_rate)
        wd, hp, update = self.weight_decay, self.ir, self.rule.update
        rate = self.rule.rate(hp, lr, self.iterations)
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
                rules.decay(np, w, wd, lr, t1)
            update(np, w, g, slots, hp, rate, t1, t2)
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
