"""Dense: z = x·W + b; dx = dz·Wᵀ, dW = xᵀ·dz, db = Σₙ dz."""

from backends.numpy.layers import register


@register("Dense")
def forward(layer, params, state, x, ctx):
    kernel, bias = params["kernel"], params.get("bias")
    z = x @ kernel
    if bias is not None:
        z += bias
    input_grad = ctx.input_grad

    def backprop(dz):
        grads = {"kernel": x.T @ dz}
        if bias is not None:
            grads["bias"] = dz.sum(axis=0)
        return (dz @ kernel.T if input_grad else None), grads

    return z, backprop
