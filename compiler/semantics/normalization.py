"""Normalization's statistics, the same in every backend: μ and σ² from the layer's adapted state
(``mean``, ``variance``: the kept axes' sizes, Keras' layout) when it adapts, else from the spec's
values; reshaped to broadcast against a batch of the layer's input, in ``dtype``."""

from __future__ import annotations

import numpy as np


def statistics(layer, state, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(μ, σ²) in ``dtype``, shaped to broadcast against a batch of the layer's input."""
    shape = layer.input_shape
    if layer.adapts:
        broadcast = layer.broadcast_shape(shape)
        return (np.asarray(state["mean"], dtype).reshape(broadcast),
                np.asarray(state["variance"], dtype).reshape(broadcast))
    given = layer.given_shape(shape)
    return np.asarray(layer.mean, dtype).reshape(given), np.asarray(layer.variance, dtype).reshape(given)
