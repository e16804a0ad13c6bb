"""Minimum(): y = min(x₁, …, xₙ) elementwise, folded left to right as Keras does: m₁ = x₁, mₖ = min(mₖ₋₁, xₖ)
(a size-1 axis broadcast).

The gradient of each fold goes to the operand it took; on a tie (mₖ₋₁ = xₖ) to the LEFT one, mₖ₋₁, as
TensorFlow's MinimumGrad does (its mask is x ≤ y) — PyTorch's ``torch.minimum`` would split a tie half and
half. Backward as Maximum's (``backends/numpy/layers/maximum.py``).
"""

from backends.numpy.layers import register
from backends.numpy.layers.merging import fold_extremum


@register("Minimum")
def forward(layer, params, state, xs, ctx):
    return fold_extremum(xs, left_wins=lambda m, x: m <= x)
