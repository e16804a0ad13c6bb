"""Cropping2D: y = x[:, top:h − bottom, left:w − right, :]; dx = dy with zeros where the cropped
pixels were (dy padded back by the same amounts)."""

from backends.numpy.layers import register
from backends.numpy.layers.windows import pad, unpad


@register("Cropping2D")
def forward(layer, params, state, x, ctx):
    amounts = layer.cropping  # ((top, bottom), (left, right))
    return unpad(x, amounts), lambda dy: (pad(dy, amounts), {})
