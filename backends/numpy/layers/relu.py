"""ReLU(max_value=m, negative_slope=s, threshold=t), as Keras 3.15 computes it (``ReLU.static_call``):

    y = clip(x·[x > t], 0, m) − s·max(t − x, 0)

- a leaky ReLU (s > 0, no m, t = 0) is Keras' leaky_relu: y = x if x > 0 else s·x, dy/dx = 1 if x > 0 else s;
- otherwise dy/dx = [x > t]·[x ≤ m] + s·[x < t], except m = 6 with t = 0 (TensorFlow's relu6), where the
  first term is [0 < x < 6].
"""

import numpy as np

from backends.numpy.layers import register


@register("ReLU")
def forward(layer, params, state, x, ctx):
    s, m, t = layer.negative_slope, layer.max_value, layer.threshold
    if layer.leaky:
        slope = np.where(x > 0, 1.0, s).astype(x.dtype)
        return x * slope, lambda dy: (dy * slope, {})
    clip = m is not None
    if t != 0:
        passed = x > t
        y = np.where(passed, x, 0).astype(x.dtype)
    elif m == 6:  # relu6: its gradient is 0 at 0 and at 6
        passed = (x > 0) & (x < 6)
        y = np.clip(x, 0, 6)
        clip = False
    else:
        passed = x > 0
        y = np.maximum(x, 0)
    if clip:
        passed = passed & (y <= m)  # the gradient passes at the bound, as TensorFlow's clip
        y = np.minimum(y, m)
    slope = passed.astype(x.dtype)
    if s != 0:
        below = x < t
        y = y - s * np.where(below, t - x, 0).astype(x.dtype)
        slope = slope + s * below
    return y, lambda dy: (dy * slope, {})
