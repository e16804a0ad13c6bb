"""Dropout (training): y = x·m/(1 − rate), m the keep mask; dx = dy·m/(1 − rate). Identity otherwise."""

from backends.numpy.layers import no_grads, register


def inverted_dropout(x, keep, rate):
    scale = (keep / (1.0 - rate)).astype(x.dtype)
    return x * scale, lambda dy: (dy * scale, {})


@register("Dropout")
def forward(layer, params, state, x, ctx):
    if not ctx.training or layer.rate == 0:
        return x, no_grads
    return inverted_dropout(x, ctx.keep(layer.name, x.shape, layer.rate), layer.rate)
