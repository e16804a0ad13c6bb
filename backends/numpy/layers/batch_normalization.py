"""BatchNormalization over the last axis, Keras' conventions.

training: μ, σ² (biased) over all other axes; x̂ = (x − μ)·(1/√(σ² + ε)); y = γ·x̂ + β;
moving ← moving·momentum + batch·(1 − momentum) (the biased σ²);
dx = (dy − mean(dy) − x̂·mean(dy·x̂))·γ/√(σ² + ε), dγ = Σ dy·x̂, dβ = Σ dy.
inference: μ, σ² are the moving statistics and dx = dy·γ/√(σ² + ε).

γ and β are left out when ``scale`` / ``center`` is false. The model runs the bit-identical fast path
(``backends/numpy/layers/fast/batch_normalization.py``: each mean computed once, in place).
"""

import numpy as np

from backends.numpy.layers import register


@register("BatchNormalization")
def forward(layer, params, state, x, ctx):
    axes = tuple(range(x.ndim - 1))  # every axis but the channels
    gamma, beta = params.get("gamma"), params.get("beta")
    eps = x.dtype.type(layer.epsilon)
    if ctx.training:
        mean, var = x.mean(axis=axes), x.var(axis=axes)
        m = x.dtype.type(layer.momentum)
        state["moving_mean"][...] = state["moving_mean"] * m + mean * (1 - m)
        state["moving_variance"][...] = state["moving_variance"] * m + var * (1 - m)
    else:
        mean, var = state["moving_mean"], state["moving_variance"]
    inv_std = 1 / np.sqrt(var + eps)
    xhat = (x - mean) * inv_std
    y = xhat
    if gamma is not None:
        y = y * gamma
    if beta is not None:
        y = y + beta
    scale = inv_std * gamma if gamma is not None else inv_std  # dy/dx̂ · dx̂/dx, the batch terms aside

    def backprop(dy):
        grads = {}
        if gamma is not None:
            grads["gamma"] = (dy * xhat).sum(axis=axes)
        if beta is not None:
            grads["beta"] = dy.sum(axis=axes)
        if not ctx.input_grad:
            return None, grads
        if not ctx.training:  # the statistics are constants
            return dy * scale, grads
        return (dy - dy.mean(axis=axes) - xhat * (dy * xhat).mean(axis=axes)) * scale, grads

    return y, backprop
