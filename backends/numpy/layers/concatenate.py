"""Concatenate(axis=-1): y = the inputs joined along ``axis`` (Keras counts the batch as axis 0, so -1 is the
last axis: the channels of an image); dxᵢ = the slice of dy that xᵢ filled."""

import numpy as np

from backends.numpy.layers import register


@register("Concatenate")
def forward(layer, params, state, xs, ctx):
    axis = layer.feature_axis(xs[0].ndim - 1) + 1  # an axis of the batch, counting the batch
    ends = np.cumsum([x.shape[axis] for x in xs])[:-1]
    return np.concatenate(xs, axis=axis), lambda dy: (np.split(dy, ends, axis=axis), {})
