"""``auto`` initializers: He for ReLU-family activations, Glorot for linear/tanh/sigmoid/softmax.

The activation that counts is the one that really follows the layer: its own, or else the next
``Activation`` layer (``is_activation``), looking through the layers whose kind is ``transparent``
(BatchNormalization, Normalization, Dropout, SpatialDropout2D, pooling and Flatten: each says so in its IR
class).
"""

from __future__ import annotations

from compiler.ir.graph import Graph
from compiler.ir.values import RELU_FAMILY, ActivationFn, Auto, ConstantInit, VarianceScaling
from compiler.ir.layers import LayerBase


def following_activation(layers: list[LayerBase], index: int, graph: Graph | None = None) -> ActivationFn:
    """The activation applied after ``layers[index]``'s linear part (linear when none).

    In a graph, "after" follows the one layer that takes the output (``Graph.only_consumer``), through
    transparent layers (an Add of a residual among them: the ReLU after the sum follows both branches'
    last kernels); an output used by two layers, or leaving the model, is followed by no one activation.
    Looks only at the layers up to the first that is not transparent, so calling it for every layer is
    linear in the model, not quadratic (pass ``graph``, made once, when calling it for many layers).
    """
    own = layers[index].activation_fn
    if own is not None and own.kind != "linear":
        return own
    graph = graph or Graph.of(layers)
    j = graph.only_consumer(index)
    while j is not None:
        layer = layers[j]
        if layer.is_activation:
            return layer.activation_fn  # type: ignore[return-value]
        if not layer.transparent:
            break
        j = graph.only_consumer(j)
    return ActivationFn()


def kernel_initializer_fields(layer: LayerBase) -> tuple[str, ...]:
    """The fields of ``layer`` that hold a kernel's initializer: ``kernel_initializer``, or its kind's own
    ``kernel_initializer_fields`` (DepthwiseConv2D's ``depthwise_initializer``; SeparableConv2D's depthwise
    and pointwise ones)."""
    return getattr(type(layer), "kernel_initializer_fields", ("kernel_initializer",))


def resolve_auto(layers: list[LayerBase], outputs: tuple[str, ...] | None = None) -> list[LayerBase]:
    """Replace ``auto`` kernel initializers by he_* / glorot_* (``auto=True`` marks the choice)."""
    graph = Graph.of(layers, outputs)
    out = []
    for i, layer in enumerate(layers):
        update = {}
        for field in kernel_initializer_fields(layer):  # a SeparableConv2D's two kernels: the same family
            kernel = getattr(layer, field, None)
            if isinstance(kernel, Auto):
                family = "he" if following_activation(layers, i, graph).kind in RELU_FAMILY else "glorot"
                update[field] = VarianceScaling(kind=f"{family}_{kernel.distribution}", auto=True)
        if isinstance(getattr(layer, "bias_initializer", None), Auto):
            update["bias_initializer"] = ConstantInit(kind="zeros")
        out.append(layer.model_copy(update=update) if update else layer)
    return out
