"""Normalization, Keras' preprocessing layer: y = (x − μ)/s with s = max(√σ², ε), ε = 1e-7;
invert: y = μ + x·s. μ and σ² are fixed while training (adapted before it, or given), so
dx = dy/s (invert: dy·s) and there are no gradients.

μ and σ² come from ``state`` (``mean``, ``variance``: the kept axes' sizes, Keras' layout) when the
layer adapts, else from the spec's values; either way reshaped to broadcast against the batch
(``compiler.semantics.normalization.statistics``), in the input's dtype.
"""

import numpy as np

from backends.numpy.layers import register
from compiler.ir.layers.normalization import EPSILON
from compiler.semantics.normalization import statistics


@register("Normalization")
def forward(layer, params, state, x, ctx):
    mean, variance = statistics(layer, state, x.dtype)
    scale = np.maximum(np.sqrt(variance), x.dtype.type(EPSILON))
    if layer.invert:
        return mean + x * scale, lambda dy: (dy * scale, {})
    return (x - mean) / scale, lambda dy: (dy / scale, {})
