"""Equivalence: train one spec on several backends in canonical mode and compare step by step.

Every backend gets the same initial weights (NumPy's initializers), the same batches (the
shared loop's order), the same learning rate per step and the same dropout masks, so in
float64 their per-step losses and final weights agree to round-off. A backend whose training
diverges (``compiler.semantics.divergence``) stops there; equivalent backends stop at the same step and
blame the same layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from runtime.model_memory import check_model_fits
from runtime.trainers import make_trainer
from compiler.semantics.divergence import Diverged
from compiler.semantics.batch_order import batches
from compiler.semantics.initializers import initial_weights
from compiler.semantics.schedules import learning_rate
from compiler.ir.spec import Spec


@dataclass
class Trace:
    """What one backend did: loss per step, outputs of the first step, final weights, and the step
    that diverged (``stopped.step``, from 1; ``stopped.layer``) when training did. A model with several
    outputs: ``losses`` are the totals, ``output_losses`` each step's unweighted loss per output, and
    ``first_outputs`` the outputs side by side, each flattened per sample ((n, Σ values))."""

    backend: str
    losses: list[float] = field(default_factory=list)
    first_outputs: np.ndarray | None = None
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    stopped: Diverged | None = None
    output_losses: list[tuple[float, ...]] = field(default_factory=list)


def step_batches(n: int, batch_size: int, seed: int, steps: int) -> list[np.ndarray]:
    """The first ``steps`` batches of the shared loop's order (epochs chained)."""
    out: list[np.ndarray] = []
    epoch = 0
    while len(out) < steps:
        out.extend(batches(n, batch_size, seed, epoch))
        epoch += 1
    return out[:steps]


def run_canonical(backend: str, spec: Spec, x: np.ndarray, y: np.ndarray, *, steps: int,
                  dtype="float64", seed: int | None = None, device: str = "cpu") -> Trace:
    """Train ``steps`` optimizer steps of ``spec`` on ``backend`` in canonical mode, or until a step
    diverges (then ``stopped`` says where, and the weights are those after the last good step).
    ``device``: a resolved device (``backends.devices.resolve_device``); anywhere but the CPU the trainer
    uses deterministic algorithms only, so a comparison is the same on every run."""
    t = spec.training
    seed = t.seed if seed is None else seed
    check_model_fits(spec, dtype)  # as make_trainer does, before the canonical weights are drawn
    weights = initial_weights(spec, seed, np.dtype(dtype))
    trainer = make_trainer(backend, spec, weights=weights, dtype=np.dtype(dtype), seed=seed, mode="canonical",
                           adapt_on=x, device=device, deterministic=device != "cpu")
    trace = Trace(backend)
    for step, idx in enumerate(step_batches(len(x), t.batch_size, seed, steps)):
        try:
            loss, out = trainer.train_batch(x[idx], y[idx], step, learning_rate(t.optimizer, t.schedule, step))
        except Diverged as exc:
            exc.step, exc.weights_step = step + 1, step
            trace.stopped = exc
            break
        if isinstance(loss, tuple):  # several outputs: (total, each output's loss), one output per model output
            trace.output_losses.append(tuple(float(v) for v in loss[1:]))
            loss = loss[0]
            out = np.concatenate([np.asarray(o, dtype=np.float64).reshape(len(o), -1) for o in out], axis=1)
        trace.losses.append(float(loss))
        if step == 0:
            trace.first_outputs = np.asarray(out, dtype=np.float64)
    trace.weights = {k: np.array(v, dtype=np.float64) for k, v in trainer.get_weights().items()}
    return trace


def relative_error(a: np.ndarray | float, b: np.ndarray | float, floor: float = 0.0) -> float:
    """max |a − b| / max(max |b|, ``floor``, 1e-12) over the array."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.abs(b).max()) if b.size else 0.0, floor, 1e-12)
    return float(np.abs(a - b).max() / scale) if a.size else 0.0


def layer_scales(weights: dict[str, np.ndarray]) -> dict[str, float]:
    """The largest magnitude among each layer's weights (``"layer/weight"`` names)."""
    scales: dict[str, float] = {}
    for name, w in weights.items():
        layer = name.split("/")[0]
        w = np.asarray(w, dtype=np.float64)
        scales[layer] = max(scales.get(layer, 0.0), float(np.abs(w).max()) if w.size else 0.0)
    return scales


@dataclass
class Divergence:
    """The first place two traces part beyond the tolerance (None fields when they agree)."""

    step: int | None
    layer: str | None
    loss_error: float
    weight_errors: dict[str, float]


def compare(trace: Trace, reference: Trace, tolerance: float) -> Divergence:
    """Per-step loss errors and per-weight final errors of ``trace`` against ``reference``; two traces
    whose training diverged at different steps, or blamed different layers, part at the earlier step."""
    loss_errors = [relative_error(a, b) for a, b in zip(trace.losses, reference.losses)]
    for i, (a, b) in enumerate(zip(trace.output_losses, reference.output_losses)):  # several outputs: each too
        loss_errors[i] = max(loss_errors[i], relative_error(a, b))
    first_bad = next((i for i, e in enumerate(loss_errors) if not e <= tolerance), None)
    # a weight relative to its own largest magnitude, or its layer's when that is larger: a bias that holds only
    # round-off (one that a BatchNormalization after it cancels has a zero gradient) is judged against its kernel
    scales = layer_scales(reference.weights)
    weight_errors = {k: relative_error(trace.weights[k], reference.weights[k], scales[k.split("/")[0]])
                     for k in reference.weights}
    bad_layer = next((k.split("/")[0] for k, e in weight_errors.items() if not e <= tolerance), None)
    stops = [(t.stopped.step, t.stopped.layer) if t.stopped is not None else None for t in (trace, reference)]
    if stops[0] != stops[1]:
        stop_step = min(s[0] for s in stops if s is not None) - 1  # counted from 0, as loss_errors
        if first_bad is None or stop_step < first_bad:
            first_bad = stop_step
            bad_layer = trace.stopped.layer if trace.stopped is not None else reference.stopped.layer
    return Divergence(first_bad, bad_layer, max(loss_errors, default=0.0), weight_errors)


def tolerance_for(dtype) -> float:
    return 1e-9 if np.dtype(dtype) == np.float64 else 1e-4


__all__ = ["Divergence", "Trace", "compare", "relative_error", "run_canonical", "step_batches",
           "tolerance_for"]
