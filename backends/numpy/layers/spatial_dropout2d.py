"""SpatialDropout2D (training): one keep mask per (sample, channel), the same over h and w."""

from backends.numpy.layers import no_grads, register
from backends.numpy.layers.dropout import inverted_dropout


@register("SpatialDropout2D")
def forward(layer, params, state, x, ctx):
    if not ctx.training or layer.rate == 0:
        return x, no_grads
    keep = ctx.keep(layer.name, (x.shape[0], 1, 1, x.shape[3]), layer.rate)
    return inverted_dropout(x, keep, layer.rate)
