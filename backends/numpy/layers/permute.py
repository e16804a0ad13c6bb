"""Permute: y = x transposed to axes (0, *dims) (output axis a is input axis dims[a], batch first);
dx = dy transposed by the inverse permutation."""

import numpy as np

from backends.numpy.layers import register


@register("Permute")
def forward(layer, params, state, x, ctx):
    axes = (0, *layer.dims)
    inverse = tuple(np.argsort(axes))
    return np.ascontiguousarray(x.transpose(axes)), lambda dy: (np.ascontiguousarray(dy.transpose(inverse)), {})
