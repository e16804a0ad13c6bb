"""GlobalAveragePooling2D: y[n,c] = mean over (h, w); dx = dy/(H·W) everywhere."""

import numpy as np

from backends.numpy.layers import register


@register("GlobalAveragePooling2D")
def forward(layer, params, state, x, ctx):
    area = x.shape[1] * x.shape[2]
    y = x.mean(axis=(1, 2), keepdims=layer.keepdims)

    def backprop(dy):
        dy = dy.reshape(x.shape[0], 1, 1, x.shape[3])
        return np.broadcast_to(dy / x.dtype.type(area), x.shape).copy(), {}

    return y, backprop
