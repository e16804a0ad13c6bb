"""GroupNormalization: each sample's channels (axis a) in G groups of C/G consecutive channels.

x is viewed with axis a split into (G, C/G); μ, σ² (biased) per sample and group, over the group's
channels and every other non-batch axis; x̂ = (x − μ)/√(σ² + ε); y = γ·x̂ + β with γ, β per channel.
Backprop as LayerNormalization's (``normalize``) over the same grouped axes:
dx = (g − mean(g) − x̂·mean(g·x̂))/√(σ² + ε) with g = dy·γ;
dγ = Σ dy·x̂, dβ = Σ dy over all axes but a.
"""

from backends.numpy.layers import register
from backends.numpy.layers.layer_normalization import normalize


@register("GroupNormalization")
def forward(layer, params, state, x, ctx):
    shape = x.shape[1:]
    a = layer.channel_axis(shape)
    groups = layer.group_count(shape)
    grouped = (*x.shape[:a], groups, x.shape[a] // groups, *x.shape[a + 1:])
    axes = tuple(d for d in range(1, len(grouped)) if d != a)  # all but the batch and the group axes
    broadcast = tuple(size if d == a else 1 for d, size in enumerate(x.shape))
    return normalize(x, axes, broadcast, params.get("gamma"), params.get("beta"), x.dtype.type(layer.epsilon), ctx,
                     grouped=grouped)
