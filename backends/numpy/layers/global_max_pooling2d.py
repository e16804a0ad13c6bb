"""GlobalMaxPooling2D: y[n,c] = max over (h, w) of x[n,h,w,c].

dx[n,h,w,c] = dy[n,c]·[x[n,h,w,c] = y[n,c]] / (how many pixels equal the maximum): tied maxima share the
gradient equally, as TensorFlow's gradient of ``reduce_max`` (Keras' ``ops.max``) and torch's ``amax``.
"""

from backends.numpy.layers import register


@register("GlobalMaxPooling2D")
def forward(layer, params, state, x, ctx):
    y = x.max(axis=(1, 2), keepdims=True)  # (N, 1, 1, C)

    def backprop(dy):
        is_max = x == y
        ties = is_max.sum(axis=(1, 2), keepdims=True).astype(x.dtype)
        return is_max * (dy.reshape(y.shape) / ties), {}

    return (y if layer.keepdims else y.reshape(x.shape[0], x.shape[3])), backprop
