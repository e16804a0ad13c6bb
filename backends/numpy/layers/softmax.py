"""Softmax(axis): y = eˣ⁻ᵐ / Σ eˣ⁻ᵐ over the layer's axes (m: the maximum over them);
dx = y·(dy − Σ dy·y), the sum over the same axes."""

import numpy as np

from backends.numpy.layers import register


@register("Softmax")
def forward(layer, params, state, x, ctx):
    axes = layer.axes(x.shape[1:])
    e = np.exp(x - x.max(axis=axes, keepdims=True))
    y = e / e.sum(axis=axes, keepdims=True)
    return y, lambda dy: (y * (dy - (dy * y).sum(axis=axes, keepdims=True)), {})
