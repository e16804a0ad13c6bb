"""PReLU: y = relu(x) − α·relu(−x) (Keras' form): x where x > 0, α·x where x < 0.

dx = dy·(1 if x > 0 else α if x < 0 else 0); dα = Σ dy·min(x, 0) over the batch and the shared axes
(where α's shape has 1).
"""

import numpy as np

from backends.numpy.layers import register


@register("PReLU")
def forward(layer, params, state, x, ctx):
    alpha = params["alpha"]
    negative = np.minimum(x, 0)  # = −relu(−x)
    y = np.maximum(x, 0) + alpha * negative

    def backprop(dy):
        dx = dy * np.where(x > 0, 1.0, np.where(x < 0, alpha, 0.0)) if ctx.input_grad else None
        shared = (0, *(i + 1 for i, n in enumerate(alpha.shape) if n == 1))
        dalpha = (dy * negative).sum(axis=shared, keepdims=True)[0]
        return dx, {"alpha": dalpha.reshape(alpha.shape)}

    return y, backprop
