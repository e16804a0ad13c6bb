"""``auto`` initializers: He for ReLU-family activations, Glorot for linear/tanh/sigmoid/softmax.

The activation that counts is the one that really follows the layer: its own, or else the next
``Activation`` layer (``is_activation``), looking through the layers whose kind is ``transparent``
(BatchNormalization, Normalization, Dropout, SpatialDropout2D, pooling and Flatten: each says so in its IR
class).
"""

from __future__ import annotations

from compiler.ir.values import RELU_FAMILY, ActivationFn, Auto, ConstantInit, VarianceScaling
from compiler.ir.layers import LayerBase


def following_activation(layers: list[LayerBase], index: int) -> ActivationFn:
    """The activation applied after ``layers[index]``'s linear part (linear when none).

    Looks only at the layers up to the first that is not transparent (no copy of the rest of the
    list), so calling it for every layer is linear in the model, not quadratic.
    """
    own = layers[index].activation_fn
    if own is not None and own.kind != "linear":
        return own
    for j in range(index + 1, len(layers)):
        layer = layers[j]
        if layer.is_activation:
            return layer.activation_fn  # type: ignore[return-value]
        if not layer.transparent:
            break
    return ActivationFn()


def resolve_auto(layers: list[LayerBase]) -> list[LayerBase]:
    """Replace ``auto`` kernel initializers by he_* / glorot_* (``auto=True`` marks the choice)."""
    out = []
    for i, layer in enumerate(layers):
        update = {}
        kernel = getattr(layer, "kernel_initializer", None)
        if isinstance(kernel, Auto):
            family = "he" if following_activation(layers, i).kind in RELU_FAMILY else "glorot"
            update["kernel_initializer"] = VarianceScaling(kind=f"{family}_{kernel.distribution}", auto=True)
        if isinstance(getattr(layer, "bias_initializer", None), Auto):
            update["bias_initializer"] = ConstantInit(kind="zeros")
        out.append(layer.model_copy(update=update) if update else layer)
    return out
