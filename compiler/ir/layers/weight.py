"""One weight of a layer, as the layer describes it (``LayerBase.weights``): its name within the layer, its
shape in Keras' layout, its initializer and regularizer, and whether training updates it.

``compiler.weights.weight_specs`` turns these rows into the spec's weight list (``"layer/name"``), the one
list every backend, emitter and checkpoint reads.
"""

from dataclasses import dataclass

from compiler.ir.values import ConstantInit, Initializer, Regularizer


@dataclass(frozen=True)
class LayerWeight:
    name: str  # within the layer: "kernel", "bias", "gamma", "moving_mean", ...
    shape: tuple[int, ...]  # Keras' layout: Dense (in, units), Conv2D (kh, kw, in_channels, filters)
    initializer: Initializer
    trainable: bool
    regularizer: Regularizer | None = None


def constant(value: float) -> ConstantInit:
    """The initializer of a weight that starts at ``value``, 0 (``zeros``) or 1 (``ones``)."""
    return ConstantInit(kind="ones" if value == 1 else "zeros", value=value)
