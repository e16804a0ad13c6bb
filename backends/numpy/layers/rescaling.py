"""Rescaling: y = x·scale + offset; dx = dy·scale."""

from backends.numpy.layers import register


@register("Rescaling")
def forward(layer, params, state, x, ctx):
    scale = x.dtype.type(layer.scale)
    return x * scale + x.dtype.type(layer.offset), lambda dy: (dy * scale, {})
