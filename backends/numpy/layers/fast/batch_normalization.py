"""BatchNormalization, fast: the same numbers as the plain path (``backends/numpy/layers/batch_normalization.py``,
where the formulas are), bit for bit (tests/test_numpy_fast_paths.py), with less work and memory.

The means and the variance are NumPy's own (``ndarray.mean``/``var``: a sum, divided by the
count), each computed once: x − μ serves both σ² and x̂, Σ dy·x̂ and Σ dy both a gradient and a
mean; temporaries are updated in place, in the formulas' order of operations.
"""

import numpy as np

from backends.numpy.layers import register_fast


def _mean_of_sum(total: np.ndarray, count: int) -> np.ndarray:
    """``ndarray.mean`` from the sum it starts with: the same division (numpy/_core/_methods.py ``_mean``)."""
    return np.true_divide(total, np.intp(count), out=np.empty_like(total), casting="unsafe", subok=False)


def _apply(op, a: np.ndarray, b) -> np.ndarray:
    """``op(a, b)``, into ``a`` (a temporary of ours) when that is the dtype the result would have anyway."""
    return op(a, b, out=a) if np.result_type(a, b) == a.dtype else op(a, b)


@register_fast("BatchNormalization")
def forward(layer, params, state, x, ctx):
    axes = tuple(range(x.ndim - 1))
    count = x.size // x.shape[-1]
    gamma, beta = params.get("gamma"), params.get("beta")
    eps = x.dtype.type(layer.epsilon)
    if ctx.training:
        mean = x.mean(axis=axes)
        centered = x - mean
        var = _mean_of_sum(np.square(centered).sum(axis=axes), count)  # = x.var(axis=axes)
        m = x.dtype.type(layer.momentum)
        state["moving_mean"] *= m
        state["moving_mean"] += mean * (1 - m)
        state["moving_variance"] *= m
        state["moving_variance"] += var * (1 - m)
    else:
        mean, var = state["moving_mean"], state["moving_variance"]
        centered = x - mean
    inv_std = 1 / np.sqrt(var + eps)
    xhat = _apply(np.multiply, centered, inv_std)  # (x − μ)·(1/√(σ² + ε))
    y = xhat * gamma if gamma is not None else xhat
    if beta is not None:
        y = _apply(np.add, y, beta) if y is not xhat else y + beta

    def backprop(dy):
        grads = {}
        if not ctx.training:
            if gamma is not None:
                grads["gamma"] = (dy * xhat).sum(axis=axes)
            if beta is not None:
                grads["beta"] = dy.sum(axis=axes)
            if not ctx.input_grad:
                return None, grads
            return dy * (inv_std * gamma if gamma is not None else inv_std), grads
        dy_xhat = dy * xhat
        sum_dy_xhat = dy_xhat.sum(axis=axes)
        sum_dy = dy.sum(axis=axes)
        if gamma is not None:
            grads["gamma"] = sum_dy_xhat
        if beta is not None:
            grads["beta"] = sum_dy
        if not ctx.input_grad:
            return None, grads
        scale = inv_std * gamma if gamma is not None else inv_std
        dx = dy - _mean_of_sum(sum_dy, count)
        mean_dy_xhat = _mean_of_sum(sum_dy_xhat, count)
        if np.result_type(xhat, mean_dy_xhat) == dy_xhat.dtype:  # reuse dy·x̂'s memory for x̂·mean(dy·x̂)
            correction = np.multiply(xhat, mean_dy_xhat, out=dy_xhat)
        else:
            correction = xhat * mean_dy_xhat
        dx = _apply(np.subtract, dx, correction)    # dy − mean(dy) − x̂·mean(dy·x̂)
        return _apply(np.multiply, dx, scale), grads

    return y, backprop
