"""Subtract(): y = x₁ − x₂ (exactly two inputs, a size-1 axis broadcast); dx₁ = dy, dx₂ = −dy, each summed
over the axes its input was broadcast along (``unbroadcast``)."""

from backends.numpy.layers import register
from backends.numpy.layers.merging import unbroadcast


@register("Subtract")
def forward(layer, params, state, xs, ctx):
    a, b = xs
    return a - b, lambda dy: ([unbroadcast(dy, a.shape), unbroadcast(-dy, b.shape)], {})
