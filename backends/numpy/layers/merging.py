"""What the merge layers' NumPy files share.

A merge takes a list of inputs: ``forward(layer, params, state, xs, ctx) -> (y, backprop)`` with
``backprop(dy) -> (dxs, {})``, one dx per input in order (see ``backends.numpy.layers``). The elementwise
merges broadcast a size-1 axis against the others (Keras' rule: one rank, each axis equal or 1), so the
gradient of an input that was broadcast is dy summed over the axes it was stretched along (``unbroadcast``).
"""

import numpy as np


def unbroadcast(dy: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """dy summed (keeping the axes) over every axis where ``shape`` is 1 and dy is not: the gradient of an
    input of ``shape`` that broadcasting stretched to dy's shape (same rank)."""
    axes = tuple(a for a, (n, m) in enumerate(zip(shape, dy.shape)) if n == 1 and m != 1)
    return dy.sum(axis=axes, keepdims=True) if axes else dy


def fold_extremum(xs: list[np.ndarray], left_wins) -> tuple:
    """Maximum's and Minimum's fold: m₁ = x₁, mₖ = mₖ₋₁ where ``left_wins(mₖ₋₁, xₖ)`` else xₖ; its backprop
    sends dy back through the folds, each to the operand it took (the left one on a tie, as ``left_wins``
    says with ≥ or ≤)."""
    m = xs[0]
    kept = []  # kept[k]: where fold k took its left operand
    for x in xs[1:]:
        left = left_wins(m, x)
        kept.append(left)
        m = np.where(left, m, x)

    def backprop(dy):
        dxs = [None] * len(xs)
        g = dy  # the gradient reaching mₖ
        for k in range(len(xs) - 1, 0, -1):
            left = kept[k - 1]
            dxs[k] = unbroadcast(np.where(left, 0, g), xs[k].shape)
            g = np.where(left, g, 0)
        dxs[0] = unbroadcast(g, xs[0].shape)
        return dxs, {}

    return m, backprop
