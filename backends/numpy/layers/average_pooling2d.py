"""AveragePooling2D: y = Σ window / (number of real pixels in it) — ``same`` padding is not counted
(TensorFlow's rule); dx: dy / count to every pixel of the window."""

import numpy as np

from backends.numpy.layers import register
from backends.numpy.layers.windows import output_size, pad, pad_amounts, scatter_windows, unpad, windows


@register("AveragePooling2D")
def forward(layer, params, state, x, ctx):
    amounts = pad_amounts(x.shape, layer.pool_size, layer.strides, layer.padding)
    xp = pad(x, amounts)
    out = output_size(x.shape, layer.pool_size, layer.strides, layer.padding)
    ones = pad(np.ones((1, x.shape[1], x.shape[2], 1), dtype=x.dtype), amounts)
    count = windows(ones, layer.pool_size, layer.strides, out).sum(axis=(3, 4))  # (1, oh, ow, 1)
    y = windows(xp, layer.pool_size, layer.strides, out).sum(axis=(3, 4)) / count

    def backprop(dy):
        share = (dy / count)[:, :, :, None, None, :]
        dwin = np.broadcast_to(share, (*dy.shape[:3], *layer.pool_size, dy.shape[3]))
        return unpad(scatter_windows(dwin, xp.shape, layer.strides), amounts), {}

    return y, backprop
