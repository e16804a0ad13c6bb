"""The weights of a compiled spec: names, shapes (Keras layouts), initializers, regularizers.

One list for every backend, emitter and checkpoint, made by asking each layer for its weights
(``LayerBase.weights``: ``dense/kernel`` is (in, units), ``conv2d/kernel`` (kh, kw, in_channels, filters)
as in Keras; each kind's rows are documented on its IR class) and naming them ``"layer/weight"``.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.spec import Spec
from compiler.ir.values import Initializer, Regularizer


@dataclass(frozen=True)
class WeightSpec:
    layer: str
    name: str  # "layer/weight"
    shape: tuple[int, ...]
    initializer: Initializer
    trainable: bool
    regularizer: Regularizer | None = None

    @property
    def fans(self) -> tuple[int, int]:
        """(fan_in, fan_out) as Keras computes them: a kernel's receptive field multiplies both."""
        shape = self.shape
        if len(shape) < 1:
            return 1, 1
        if len(shape) == 1:
            return shape[0], shape[0]
        if len(shape) == 2:
            return shape[0], shape[1]
        receptive = 1
        for d in shape[:-2]:
            receptive *= d
        return shape[-2] * receptive, shape[-1] * receptive


def weight_specs(spec: Spec) -> list[WeightSpec]:
    """Every weight of every layer, in layer order and, within a layer, in the order the layer gives."""
    return [WeightSpec(layer.name, f"{layer.name}/{w.name}", w.shape, w.initializer, w.trainable, w.regularizer)
            for layer in spec.layers for w in layer.weights(layer.input_shape)]
