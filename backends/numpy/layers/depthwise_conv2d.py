"""DepthwiseConv2D: each input channel convolved with its own kernels, over the windows of the padded input.

d[n,i,j,c·M+m] = Σ_{di,dj} x_pad[n, i·s+di·d, j·s+dj·d, c]·K[di,dj,c,m] (+ b[c·M+m])

With W[n,i,j,di,dj,c] the windows (``windows.windows``), d = Σ_{di,dj} W·K per channel; backprop:
dK[di,dj,c,m] = Σ_{n,i,j} W[n,i,j,di,dj,c]·dd[n,i,j,c,m], db = Σ dd,
dW[n,i,j,di,dj,c] = Σ_m dd[n,i,j,c,m]·K[di,dj,c,m], added back where each window was read (col2im), padding
cropped. ``depthwise`` is shared with SeparableConv2D (its first step).
"""

import numpy as np

from backends.numpy.layers import register
from backends.numpy.layers.windows import output_size, pad, pad_amounts, scatter_windows, unpad, windows


def depthwise(layer, kernel, x, input_grad=True):
    """(d, backprop) of the depthwise step without bias: d (N, oh, ow, C·M); backprop(dd) -> (dx, dK)."""
    kh, kw, c, m = kernel.shape
    amounts = pad_amounts(x.shape, layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)
    xp = pad(x, amounts)
    out = output_size(x.shape, layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)
    n = x.shape[0]
    cols = windows(xp, layer.kernel_size, layer.strides, out, layer.dilation_rate)  # (N, oh, ow, kh, kw, C)
    d = np.einsum("nijhwc,hwcm->nijcm", cols, kernel, optimize=True).reshape(n, out[0], out[1], c * m)
    padded_shape = xp.shape

    def backprop(dd):
        dd = dd.reshape(n, out[0], out[1], c, m)
        dkernel = np.einsum("nijhwc,nijcm->hwcm", cols, dd, optimize=True)
        if not input_grad:  # the first layer with weights: nobody needs dx
            return None, dkernel
        dcols = np.einsum("nijcm,hwcm->nijhwc", dd, kernel, optimize=True)
        return unpad(scatter_windows(dcols, padded_shape, layer.strides, layer.dilation_rate), amounts), dkernel

    return d, backprop


@register("DepthwiseConv2D")
def forward(layer, params, state, x, ctx):
    kernel, bias = params["kernel"], params.get("bias")
    z, depthwise_backprop = depthwise(layer, kernel, x, ctx.input_grad)
    if bias is not None:
        z = z + bias

    def backprop(dz):
        dx, dkernel = depthwise_backprop(dz)
        grads = {"kernel": dkernel}
        if bias is not None:
            grads["bias"] = dz.sum(axis=(0, 1, 2))
        return dx, grads

    return z, backprop
