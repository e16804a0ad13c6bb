"""BatchNormalization over the last axis, Keras' conventions.

training: μ, σ² (biased) over all other axes; x̂ = (x − μ)/√(σ² + ε); y = γ·x̂ + β;
moving ← moving·momentum + batch·(1 − momentum) (the biased σ²);
dx = (γ/√(σ² + ε))·(dy − mean(dy) − x̂·mean(dy·x̂)), dγ = Σ dy·x̂, dβ = Σ dy.
inference: μ, σ² are the moving statistics and dx = dy·γ/√(σ² + ε).
"""

import numpy as np

from backends.numpy.layers import register


@register("BatchNormalization")
def forward(layer, params, state, x, ctx):
    axes = tuple(range(x.ndim - 1))
    gamma, beta = params.get("gamma"), params.get("beta")
    eps = x.dtype.type(layer.epsilon)
    if ctx.training:
        mean = x.mean(axis=axes)
        var = x.var(axis=axes)
        m = x.dtype.type(layer.momentum)
        state["moving_mean"] *= m
        state["moving_mean"] += mean * (1 - m)
        state["moving_variance"] *= m
        state["moving_variance"] += var * (1 - m)
    else:
        mean, var = state["moving_mean"], state["moving_variance"]
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    y = xhat * gamma if gamma is not None else xhat
    if beta is not None:
        y = y + beta

    def backprop(dy):
        grads = {}
        if gamma is not None:
            grads["gamma"] = (dy * xhat).sum(axis=axes)
        if beta is not None:
            grads["beta"] = dy.sum(axis=axes)
        scale = inv_std * gamma if gamma is not None else inv_std
        if not ctx.training:
            return dy * scale, grads
        dx = dy - dy.mean(axis=axes) - xhat * (dy * xhat).mean(axis=axes)
        return dx * scale, grads

    return y, backprop
