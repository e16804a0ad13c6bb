"""ELU(alpha=α): y = x if x > 0 else α·(eˣ − 1); dx = dy·(1 if x > 0 else α·eˣ)."""

import numpy as np

from backends.numpy.layers import register


@register("ELU")
def forward(layer, params, state, x, ctx):
    alpha = layer.alpha
    below = np.minimum(x, 0)
    positive = x > 0
    y = np.where(positive, x, alpha * np.expm1(below))
    return y, lambda dy: (dy * np.where(positive, 1.0, alpha * np.exp(below)), {})
