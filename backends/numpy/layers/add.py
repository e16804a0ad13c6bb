"""Add(): y = x₁ + x₂ + … + xₙ, summed left to right as Keras does, a size-1 axis broadcast against the others;
dxᵢ = dy summed over the axes xᵢ was broadcast along (``unbroadcast``)."""

from backends.numpy.layers import register
from backends.numpy.layers.merging import unbroadcast


@register("Add")
def forward(layer, params, state, xs, ctx):
    y = xs[0]
    for x in xs[1:]:
        y = y + x
    return y, lambda dy: ([unbroadcast(dy, x.shape) for x in xs], {})
