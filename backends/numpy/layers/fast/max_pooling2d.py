"""MaxPooling2D, fast, where windows do not overlap and need no padding (strides = pool size, e.g. the usual
2x2/2): the ph·pw strided views of the input are compared in place, in row-major window order, instead of
copying every window and calling ``argmax``. It selects the same element as the plain path
(``backends/numpy/layers/max_pooling2d.py``, where the rule is) and routes the gradient to it: the same
numbers bit for bit, NaN and −0.0 included (tests/test_numpy_fast_paths.py). Other windows take the plain path.
"""

import numpy as np

from backends.numpy.layers import register_fast
from backends.numpy.layers.max_pooling2d import forward as plain_forward
from backends.numpy.layers.windows import output_size, pad_amounts


@register_fast("MaxPooling2D")
def forward(layer, params, state, x, ctx):
    amounts = pad_amounts(x.shape, layer.pool_size, layer.strides, layer.padding)
    if tuple(layer.strides) != tuple(layer.pool_size) or amounts != ((0, 0), (0, 0)):
        return plain_forward(layer, params, state, x, ctx)
    out = output_size(x.shape, layer.pool_size, layer.strides, layer.padding)
    return _non_overlapping(x, tuple(layer.pool_size), out)


_UINT = {2: np.uint16, 4: np.uint32, 8: np.uint64}  # floats of these sizes are selected bit by bit


def _non_overlapping(x, pool, out):
    """Windows that tile the input without overlap or padding (rows/columns past the last whole
    window are ignored, as with ``valid``). Keeps ``argmax``'s choice: a later element replaces the
    current one when it is not ≤ it (greater, or NaN) unless the current one is already NaN."""
    (ph, pw), (oh, ow) = pool, out
    offsets = [(i, j) for i in range(ph) for j in range(pw)]  # row-major window order

    def view(a, i, j):  # element (i, j) of every window
        return a[:, i:i + ph * oh:ph, j:j + pw * ow:pw, :]

    y = view(x, 0, 0).copy()
    arg = np.zeros(y.shape, dtype=np.uint8 if ph * pw <= 256 else np.intp)
    take = np.empty(y.shape, dtype=bool)
    not_nan = np.empty(y.shape, dtype=bool)
    uint = _UINT.get(x.dtype.itemsize) if x.dtype.kind == "f" else None
    if uint is not None:  # select by bits: exact (NaN payloads, signed zeros) and much faster than copyto(where=)
        y_bits, mask, diff = y.view(uint), np.empty(y.shape, dtype=uint), np.empty(y.shape, dtype=uint)
    for k, (i, j) in enumerate(offsets[1:], 1):
        v = view(x, i, j)
        np.less_equal(v, y, out=take)
        np.logical_not(take, out=take)                  # v > y, or v is NaN, or y is NaN
        np.equal(y, y, out=not_nan)
        take &= not_nan                                 # ... but a NaN already taken stays
        if uint is None:
            np.copyto(y, v, where=take)
        else:                                           # y ← v where take
            np.subtract(0, take, out=mask, dtype=uint)  # all ones where take
            np.bitwise_xor(y_bits, v.view(uint), out=diff)
            diff &= mask
            y_bits ^= diff
        np.maximum(arg, np.multiply(take, k, dtype=arg.dtype), out=arg)  # the last k taken (k grows)
    del take, not_nan
    shape = x.shape

    def backprop(dy):
        dx = np.empty(shape, dtype=dy.dtype)
        dx[:, ph * oh:] = 0                             # rows and columns in no window (valid padding)
        dx[:, :, pw * ow:] = 0
        zero = dy.dtype.type(0)
        hit = np.empty(dy.shape, dtype=bool)
        share = np.empty(dy.shape, dtype=dy.dtype)
        for k, (i, j) in enumerate(offsets):
            np.equal(arg, k, out=hit)
            np.multiply(hit, dy, out=share)             # one-hot · dy, as the generic path
            np.add(share, zero, out=view(dx, i, j))     # each element is in one window: 0 + share
        return dx, {}

    return y, backprop
