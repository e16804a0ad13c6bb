"""Flatten: y = x reshaped to (N, h·w·c) in NHWC order; dx = dy reshaped back."""

from backends.numpy.layers import register


@register("Flatten")
def forward(layer, params, state, x, ctx):
    return x.reshape(x.shape[0], -1), lambda dy: (dy.reshape(x.shape), {})
