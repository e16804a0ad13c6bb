"""What "diverged" means: one definition, and one rule for the layer to blame, for every backend
and both modes (the shared loop, Keras' own ``fit``, ``equiv``, ``lr-find``).

A training step has diverged when

1. its total loss is NaN, ±inf, or larger than ``LOSS_LIMIT`` = 1e30 in magnitude (a float32 loss
   of 1e30 is already heading for inf: its square overflows; no well-posed problem has a loss that
   large, in float64 either, so both precisions use the same limit), or
2. any element of any gradient is NaN or ±inf, or
3. after the update, any weight (trainable or not: BatchNormalization's moving statistics too) or
   any optimizer state (slots, iteration count) is NaN or ±inf.

Such a step is undone: the weights, moving statistics and optimizer state stay those after the last
good step, and the trainer raises ``Diverged``. The shared loop adds where (epoch and step, counted
from 1) and ``weights_step``: how many steps the weights left behind have had (0: the initial ones).

The layer to blame (:func:`locate`), looked for in this order on the step's own training pass (same
batch, same dropout masks, the weights the step started from):

1. the first layer, in forward order, whose output has an element that is not finite or beyond
   ±``LOSS_LIMIT``;
2. else the first layer with such an element in the gradient of one of its weights (before clipping);
3. else the first layer with a weight (or optimizer state) that the update made non-finite;
4. else no layer: the loss itself overflowed (an mse of huge targets, say).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

LOSS_LIMIT = 1e30


def loss_diverged(loss: float) -> bool:
    """True when ``loss`` is NaN, ±inf or beyond ±``LOSS_LIMIT`` (rule 1 above)."""
    return not abs(loss) <= LOSS_LIMIT


def blown_up(values) -> bool:
    """True when an element of ``values`` (an array) is NaN, ±inf or beyond ±``LOSS_LIMIT``: what
    :func:`locate` looks for in outputs and gradients."""
    a = np.asarray(values)
    if a.size == 0:
        return False
    with np.errstate(invalid="ignore"):
        return not bool(np.abs(a).max() <= LOSS_LIMIT)  # NaN compares False


class Diverged(Exception):
    """A training step diverged (see the module's docstring) and was undone.

    ``layer``: the layer to blame, or None; set by the shared loop (or Keras' fit): ``epoch`` and
    ``step`` of the bad step (from 1), ``weights_step``: the steps the weights left behind have had."""

    def __init__(self, message: str, layer: str | None = None):
        super().__init__(message)
        self.layer = layer
        self.epoch: int | None = None
        self.step: int | None = None
        self.weights_step: int | None = None

    def __str__(self) -> str:
        where = f"epoch {self.epoch}, step {self.step}: " if self.epoch is not None else ""
        return where + super().__str__()

    @property
    def saved(self) -> str:
        """Which weights are kept, for messages: "the weights of step N" or "the initial weights"."""
        if not self.weights_step:
            return "the initial weights"
        return f"the weights of step {self.weights_step}"


def _number(value: float) -> str:
    return f"{value:.4g}" if math.isfinite(value) else str(value)


def _cause(loss: float, gradients_bad: bool, weights_bad: bool) -> str:
    if loss_diverged(loss):
        if math.isfinite(loss):
            return f"the loss reached {_number(loss)}, beyond the limit of {LOSS_LIMIT:g}"
        return f"the loss became {loss}"
    if gradients_bad:
        return f"a gradient became non-finite (loss {_number(loss)})"
    if weights_bad:
        return f"the update made a weight non-finite (loss {_number(loss)})"
    return f"the step diverged (loss {_number(loss)})"


def _what(values) -> str:
    a = np.asarray(values)
    return "not finite" if not np.all(np.isfinite(a)) else f"beyond ±{LOSS_LIMIT:g}"


def locate(spec, loss: float, outputs: Mapping[str, object], gradients: Mapping[str, object],
           bad_weights: Iterable[str] = ()) -> Diverged:
    """The ``Diverged`` of a step, naming the layer to blame by the module's rule.

    ``outputs``: each layer's output (by layer name) in the step's training pass from the weights it
    started from; ``gradients``: each trainable weight's gradient (by weight name, before clipping);
    ``bad_weights``: the weights and optimizer states (by weight name) that the update made non-finite.
    Arrays may be anything ``numpy.asarray`` takes."""
    from compiler.weights import weight_specs

    bad_weights = list(bad_weights)
    bad_gradients = {name for name, g in gradients.items() if blown_up(g)}
    cause = _cause(float(loss), bool(bad_gradients), bool(bad_weights))
    for layer in spec.layers:
        if layer.name in outputs and blown_up(outputs[layer.name]):
            return Diverged(f"{cause}: the output of layer '{layer.name}' is {_what(outputs[layer.name])}",
                            layer.name)
    weights = weight_specs(spec)
    for layer in spec.layers:
        mine = [w.name for w in weights if w.layer == layer.name and w.name in bad_gradients]
        if mine:
            return Diverged(f"{cause}: the gradient of '{mine[0]}' is {_what(gradients[mine[0]])}", layer.name)
    for layer in spec.layers:
        mine = [w.name for w in weights if w.layer == layer.name and w.name in bad_weights]
        if mine:
            return Diverged(f"{cause}: '{mine[0]}' is not finite after the update", layer.name)
    return Diverged(cause, None)
