"""Input: y = x."""

from backends.numpy.layers import no_grads, register


@register("Input")
def forward(layer, params, state, x, ctx):
    return x, no_grads
