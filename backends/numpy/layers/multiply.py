"""Multiply(): y = x₁ · x₂ · … · xₙ elementwise, left to right as Keras does (a size-1 axis broadcast);
dxᵢ = dy · Πⱼ≠ᵢ xⱼ (the product of the others, not y / xᵢ, so a zero input has its gradient too), summed over
the axes xᵢ was broadcast along (``unbroadcast``)."""

from backends.numpy.layers import register
from backends.numpy.layers.merging import unbroadcast


@register("Multiply")
def forward(layer, params, state, xs, ctx):
    y = xs[0]
    for x in xs[1:]:
        y = y * x

    def backprop(dy):
        dxs = []
        for i, x in enumerate(xs):
            g = dy
            for j, other in enumerate(xs):
                if j != i:
                    g = g * other
            dxs.append(unbroadcast(g, x.shape))
        return dxs, {}

    return y, backprop
