"""LayerNormalization: each sample normalized over the layer's axes (Keras' ``axis``, batch axis = 0).

μ, σ² (biased) over the normalized axes A, per sample; x̂ = (x − μ)·(1/√(σ² + ε)); y = γ·x̂ + β,
γ and β reshaped to 1 on the other axes (``broadcast_shape``). The same in training and inference.
With g = dy·γ (dy where there is no γ) and means over A:
dx = (g − mean(g) − x̂·mean(g·x̂))/√(σ² + ε), dγ = Σ dy·x̂ and dβ = Σ dy over every axis not in A.
"""

import numpy as np

from backends.numpy.layers import register


@register("LayerNormalization")
def forward(layer, params, state, x, ctx):
    shape = x.shape[1:]
    axes = layer.normalized_axes(shape)
    broadcast = layer.broadcast_shape(shape)
    gamma, beta = params.get("gamma"), params.get("beta")
    return normalize(x, axes, broadcast, gamma, beta, x.dtype.type(layer.epsilon), ctx)


def normalize(x, axes, broadcast, gamma, beta, eps, ctx, grouped=None):
    """y = γ·x̂ + β with x̂ normalized over ``axes`` of ``x`` (``grouped``: the shape x is viewed in while
    normalizing, GroupNormalization's); γ and β have ``broadcast`` shape once reshaped. Returns (y, backprop)."""
    view = x if grouped is None else x.reshape(grouped)
    mean = view.mean(axis=axes, keepdims=True)
    inv_std = 1 / np.sqrt(view.var(axis=axes, keepdims=True) + eps)
    xhat = ((view - mean) * inv_std).reshape(x.shape)
    g = None if gamma is None else gamma.reshape(broadcast)
    b = None if beta is None else beta.reshape(broadcast)
    y = xhat if g is None else xhat * g
    if b is not None:
        y = y + b
    summed = tuple(d for d, size in enumerate(broadcast) if size == 1)  # the axes γ and β are shared over

    def backprop(dy):
        grads = {}
        if gamma is not None:
            grads["gamma"] = (dy * xhat).sum(axis=summed).reshape(gamma.shape)
        if beta is not None:
            grads["beta"] = dy.sum(axis=summed).reshape(beta.shape)
        if not ctx.input_grad:
            return None, grads
        dxhat = dy if g is None else dy * g
        xh = xhat if grouped is None else xhat.reshape(grouped)
        dxh = dxhat if grouped is None else dxhat.reshape(grouped)
        dx = (dxh - dxh.mean(axis=axes, keepdims=True) - xh * (dxh * xh).mean(axis=axes, keepdims=True)) * inv_std
        return dx.reshape(x.shape), grads

    return y, backprop
