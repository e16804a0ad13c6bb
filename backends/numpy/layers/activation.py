"""Activation layer: y = fn(x) (see ``backends.numpy.activations``)."""

from backends.numpy.activations import activate
from backends.numpy.layers import register


@register("Activation")
def forward(layer, params, state, x, ctx):
    y, back = activate(layer.activation, x)
    return y, lambda dy: (back(dy), {})
