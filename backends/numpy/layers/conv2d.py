"""Conv2D by im2col: the windows of the padded input become rows, the kernel a matrix.

z[n,i,j,:] = Σ_{di,dj,c} x_pad[n, i·s+di·d, j·s+dj·d, c]·W[di,dj,c,:] + b;
dW = colsᵀ·dz, db = Σ dz, dx = the windows of dz·Wᵀ added back (col2im), padding cropped.
"""

from backends.numpy.layers import register
from backends.numpy.layers.windows import output_size, pad, pad_amounts, scatter_windows, unpad, windows


@register("Conv2D")
def forward(layer, params, state, x, ctx):
    kernel, bias = params["kernel"], params.get("bias")
    kh, kw, c, f = kernel.shape
    amounts = pad_amounts(x.shape, layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)
    xp = pad(x, amounts)
    out = output_size(x.shape, layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)
    n = x.shape[0]
    cols = windows(xp, layer.kernel_size, layer.strides, out, layer.dilation_rate).reshape(-1, kh * kw * c)
    w2d = kernel.reshape(kh * kw * c, f)
    z = cols @ w2d
    if bias is not None:
        z += bias
    z = z.reshape(n, out[0], out[1], f)
    input_grad = ctx.input_grad
    padded_shape = xp.shape
    del xp  # only its shape is needed later (cols holds the windows)

    def backprop(dz):
        dz2d = dz.reshape(-1, f)
        grads = {"kernel": (cols.T @ dz2d).reshape(kernel.shape)}
        if bias is not None:
            grads["bias"] = dz2d.sum(axis=0)
        if not input_grad:  # the first layer with weights: nobody needs dx
            return None, grads
        dcols = (dz2d @ w2d.T).reshape(n, out[0], out[1], kh, kw, c)
        dxp = scatter_windows(dcols, padded_shape, layer.strides, layer.dilation_rate)
        return unpad(dxp, amounts), grads

    return z, backprop
