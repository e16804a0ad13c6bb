"""Multiply(): y = x₁ · x₂ · … · xₙ elementwise, folded left to right as Keras does (pₖ = pₖ₋₁ · xₖ, p₁ = x₁; a
size-1 axis broadcast); dxᵢ = dy · Πⱼ≠ᵢ xⱼ — the product of the others, not y / xᵢ, so that a zero input has its
gradient too — summed over the axes xᵢ was broadcast along (``unbroadcast``).

Backward runs the folds in reverse as autograd would, in time linear in n: g = dy; for k = n … 2, dxₖ = g · pₖ₋₁
and g ← g · xₖ; finally dx₁ = g (= dy · x₂ ⋯ xₙ).
"""

from backends.numpy.layers import register
from backends.numpy.layers.merging import unbroadcast


@register("Multiply")
def forward(layer, params, state, xs, ctx):
    folds = [xs[0]]  # folds[k] = x₁ · … · xₖ₊₁
    for x in xs[1:]:
        folds.append(folds[-1] * x)

    def backprop(dy):
        dxs = [None] * len(xs)
        g = dy  # dy times the inputs after the current fold
        for k in range(len(xs) - 1, 0, -1):
            dxs[k] = unbroadcast(g * folds[k - 1], xs[k].shape)
            g = g * xs[k]
        dxs[0] = unbroadcast(g, xs[0].shape)
        return dxs, {}

    return folds[-1], backprop
