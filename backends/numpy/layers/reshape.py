"""Reshape: y = x reshaped to (N, *output shape) in row-major (NHWC) order; dx = dy reshaped back."""

from backends.numpy.layers import register


@register("Reshape")
def forward(layer, params, state, x, ctx):
    return x.reshape(x.shape[0], *layer.output_shape), lambda dy: (dy.reshape(x.shape), {})
