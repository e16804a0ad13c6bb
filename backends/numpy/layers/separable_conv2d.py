"""SeparableConv2D: the depthwise step (``depthwise_conv2d.depthwise``), then a 1×1 convolution.

d = depthwise(x, D)                       (N, oh, ow, C·M)
z[n,i,j,f] = Σ_k d[n,i,j,k]·P[0,0,k,f] + b[f]
backprop: dP = Σ_{n,i,j} dᵀ·dz, db = Σ dz, dd = dz·Pᵀ, then the depthwise step's backprop gives dD and dx.
"""

from backends.numpy.layers import register
from backends.numpy.layers.depthwise_conv2d import depthwise


@register("SeparableConv2D")
def forward(layer, params, state, x, ctx):
    dkernel, pkernel, bias = params["depthwise_kernel"], params["pointwise_kernel"], params.get("bias")
    d, depthwise_backprop = depthwise(layer, dkernel, x, ctx.input_grad)
    k, f = pkernel.shape[2:]
    p2d = pkernel.reshape(k, f)
    z = d @ p2d
    if bias is not None:
        z += bias

    def backprop(dz):
        dz2d = dz.reshape(-1, f)
        grads = {"pointwise_kernel": (d.reshape(-1, k).T @ dz2d).reshape(pkernel.shape)}
        if bias is not None:
            grads["bias"] = dz2d.sum(axis=0)
        dx, grads["depthwise_kernel"] = depthwise_backprop(dz @ p2d.T)
        return dx, grads

    return z, backprop
