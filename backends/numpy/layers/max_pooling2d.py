"""MaxPooling2D: y = max over each window (``same`` pads with −∞); dx: dy to the first maximum.

"First" is in row-major window order, NaN counting as the maximum (``argmax``'s rule); y is that element
itself, so a NaN and the sign of a zero come through as they were. Windows that do not overlap and need no
padding take the bit-identical fast path in ``backends/numpy/layers/fast/max_pooling2d.py``.
"""

import numpy as np

from backends.numpy.layers import register
from backends.numpy.layers.windows import output_size, pad, pad_amounts, scatter_windows, unpad, windows


@register("MaxPooling2D")
def forward(layer, params, state, x, ctx):
    amounts = pad_amounts(x.shape, layer.pool_size, layer.strides, layer.padding)
    out = output_size(x.shape, layer.pool_size, layer.strides, layer.padding)
    xp = pad(x, amounts, -np.inf)
    n, c = x.shape[0], x.shape[3]
    ph, pw = layer.pool_size
    win = windows(xp, layer.pool_size, layer.strides, out).reshape(n, out[0], out[1], ph * pw, c)
    arg = win.argmax(axis=3)  # the first maximum in row-major window order
    y = np.take_along_axis(win, arg[:, :, :, None, :], axis=3)[:, :, :, 0, :]

    def backprop(dy):
        one_hot = (arg[:, :, :, None, :] == np.arange(ph * pw)[None, None, None, :, None])
        dwin = (one_hot * dy[:, :, :, None, :]).reshape(n, out[0], out[1], ph, pw, c)
        return unpad(scatter_windows(dwin, xp.shape, layer.strides), amounts), {}

    return y, backprop

