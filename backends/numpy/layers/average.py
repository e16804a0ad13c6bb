"""Average(): y = (x₁ + x₂ + … + xₙ) / n, summed left to right then divided, as Keras does (a size-1 axis
broadcast); dxᵢ = dy / n summed over the axes xᵢ was broadcast along (``unbroadcast``)."""

from backends.numpy.layers import register
from backends.numpy.layers.merging import unbroadcast


@register("Average")
def forward(layer, params, state, xs, ctx):
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    n = len(xs)
    return y / n, lambda dy: ([unbroadcast(dy / n, x.shape) for x in xs], {})
