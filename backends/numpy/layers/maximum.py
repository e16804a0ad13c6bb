"""Maximum(): y = max(x₁, …, xₙ) elementwise, folded left to right as Keras does: m₁ = x₁, mₖ = max(mₖ₋₁, xₖ)
(a size-1 axis broadcast).

The gradient of each fold goes to the operand it took; on a tie (mₖ₋₁ = xₖ) to the LEFT one, mₖ₋₁, as
TensorFlow's MaximumGrad does (its mask is x ≥ y) — PyTorch's ``torch.maximum`` would split a tie half and
half. Backward, from the last fold to the first: dxₖ = dy where xₖ was taken (mₖ₋₁ < xₖ) else 0, and the rest
flows on into mₖ₋₁; x₁ gets what reaches m₁. Each dxᵢ is summed over the axes xᵢ was broadcast along.
"""

from backends.numpy.layers import register
from backends.numpy.layers.merging import fold_extremum


@register("Maximum")
def forward(layer, params, state, xs, ctx):
    return fold_extremum(xs, left_wins=lambda m, x: m >= x)
