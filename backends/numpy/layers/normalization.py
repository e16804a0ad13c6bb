"""Normalization, Keras' preprocessing layer: y = (x − μ)/s with s = max(√σ², ε), ε = 1e-7;
invert: y = μ + x·s. μ and σ² are fixed while training (adapted before it, or given), so
dx = dy/s (invert: dy·s) and there are no gradients.

μ and σ² come from ``state`` (``mean``, ``variance``: the kept axes' sizes, Keras' layout) when the
layer adapts, else from the spec's values; either way reshaped to broadcast against the batch
(``statistics``), in the input's dtype.
"""

import numpy as np

from backends.numpy.layers import register
from compiler.layers.normalization import EPSILON


def statistics(layer, state, dtype) -> tuple[np.ndarray, np.ndarray]:
    """(μ, σ²) in ``dtype``, shaped to broadcast against a batch of the layer's input."""
    shape = layer.input_shape
    if layer.adapts:
        broadcast = layer.broadcast_shape(shape)
        return (np.asarray(state["mean"], dtype).reshape(broadcast),
                np.asarray(state["variance"], dtype).reshape(broadcast))
    given = layer.given_shape(shape)
    return np.asarray(layer.mean, dtype).reshape(given), np.asarray(layer.variance, dtype).reshape(given)


@register("Normalization")
def forward(layer, params, state, x, ctx):
    mean, variance = statistics(layer, state, x.dtype)
    scale = np.maximum(np.sqrt(variance), x.dtype.type(EPSILON))
    if layer.invert:
        return mean + x * scale, lambda dy: (dy * scale, {})
    return (x - mean) / scale, lambda dy: (dy / scale, {})
