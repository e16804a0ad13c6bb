"""LeakyReLU(negative_slope=s): y = x if x > 0 else s·x; dx = dy·(1 if x > 0 else s)."""

import numpy as np

from backends.numpy.layers import register


@register("LeakyReLU")
def forward(layer, params, state, x, ctx):
    slope = np.where(x > 0, 1.0, layer.negative_slope).astype(x.dtype)
    return x * slope, lambda dy: (dy * slope, {})
