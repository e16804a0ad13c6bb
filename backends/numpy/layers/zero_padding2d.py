"""ZeroPadding2D: y = x with (top, bottom) rows and (left, right) columns of zeros around it;
dx = dy[:, top:top + h, left:left + w, :] (the pixels that came from x)."""

from backends.numpy.layers import register
from backends.numpy.layers.windows import pad, unpad


@register("ZeroPadding2D")
def forward(layer, params, state, x, ctx):
    amounts = layer.padding  # ((top, bottom), (left, right))
    return pad(x, amounts), lambda dy: (unpad(dy, amounts), {})
