"""UpSampling2D: every image enlarged s_h × s_w times.

nearest:  y[n,i,j,c] = x[n, ⌊i/s_h⌋, ⌊j/s_w⌋, c]; dx[n,h,w,c] = the sum of dy over the s_h × s_w block
          that copied x[n,h,w,c].
bilinear: y = A_h·x·A_wᵀ over (height, width), per sample and channel, with the interpolation matrices of
          ``compiler.semantics.resize.bilinear_matrix`` (TensorFlow's half-pixel centres); dx = A_hᵀ·dy·A_w.
"""

import numpy as np

from backends.numpy.layers import register
from compiler.semantics.resize import bilinear_matrix


@register("UpSampling2D")
def forward(layer, params, state, x, ctx):
    n, h, w, c = x.shape
    sh, sw = layer.size
    if layer.interpolation == "nearest":
        y = np.repeat(np.repeat(x, sh, axis=1), sw, axis=2)

        def backprop(dy):
            return dy.reshape(n, h, sh, w, sw, c).sum(axis=(2, 4)), {}

        return y, backprop
    ah, aw = bilinear_matrix(h, sh, x.dtype), bilinear_matrix(w, sw, x.dtype)
    y = np.einsum("ih,nhwc,jw->nijc", ah, x, aw, optimize=True)

    def backprop(dy):
        return np.einsum("ih,nijc,jw->nhwc", ah, dy, aw, optimize=True), {}

    return y, backprop
