"""Conv2DTranspose: the adjoint of a Conv2D, by col2im — Conv2D's backward pass run forwards.

W has shape (kh, kw, filters, in): the kernel of the Conv2D from the ``filters``-channel output (H×W, padded
by TensorFlow's amounts for that size: ``pad_amounts``) to the ``in``-channel input. Each input pixel spreads
x[n,i,j,:]·W[di,dj,:,:]ᵀ over the output window it would have been read from:
y_pad[n, i·s + di·d, j·s + dj·d, :] += Σ_c x[n,i,j,c]·W[di,dj,:,c];  y = y_pad with the padding cropped, + b.
Backward (the Conv2D forward): cols = the windows of dy padded; dx = cols·W, dW = colsᵀ·x, db = Σ dy.
"""

from backends.numpy.layers import register
from backends.numpy.layers.windows import pad, pad_amounts, scatter_windows, unpad, windows


@register("Conv2DTranspose")
def forward(layer, params, state, x, ctx):
    kernel, bias = params["kernel"], params.get("bias")
    kh, kw, f, c = kernel.shape
    n, ih, iw, _ = x.shape
    oh, ow = layer.output_shape[:2]
    amounts = pad_amounts((n, oh, ow, f), layer.kernel_size, layer.strides, layer.padding, layer.dilation_rate)
    (top, bottom), (left, right) = amounts
    w2d = kernel.reshape(kh * kw * f, c)
    x2d = x.reshape(-1, c)
    dcols = (x2d @ w2d.T).reshape(n, ih, iw, kh, kw, f)  # each pixel's contribution to its window
    y = unpad(scatter_windows(dcols, (n, oh + top + bottom, ow + left + right, f), layer.strides,
                              layer.dilation_rate), amounts)
    if bias is not None:
        y = y + bias

    def backprop(dy):
        cols = windows(pad(dy, amounts), layer.kernel_size, layer.strides, (ih, iw),
                       layer.dilation_rate).reshape(-1, kh * kw * f)
        grads = {"kernel": (cols.T @ x2d).reshape(kernel.shape)}
        if bias is not None:
            grads["bias"] = dy.sum(axis=(0, 1, 2))
        if not ctx.input_grad:
            return None, grads
        return (cols @ w2d).reshape(x.shape), grads

    return y, backprop
