"""The weights of a compiled spec: names, shapes (Keras layouts), initializers, regularizers.

One list for every backend: ``dense/kernel`` is (in, units), ``conv2d/kernel`` is
(kh, kw, in_channels, filters) as in Keras, BatchNormalization has ``gamma``, ``beta``
(trainable) and ``moving_mean``, ``moving_variance`` (not trainable), an adapting Normalization
``mean``, ``variance`` (the kept axes' sizes) and ``count`` (a scalar: 0 until adapted), none trainable.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.spec import Spec
from compiler.ir.values import ConstantInit, Initializer, Regularizer


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


def _const(value: float) -> ConstantInit:
    return ConstantInit(kind="ones" if value == 1 else "zeros", value=value)


def weight_specs(spec: Spec) -> list[WeightSpec]:
    """Every weight of every layer, in layer order, kernel before bias."""
    out: list[WeightSpec] = []
    for layer in spec.layers:
        if layer.kind in ("Dense", "Conv2D"):
            kernel, bias = layer.weight_shapes(layer.input_shape)
            out.append(WeightSpec(layer.name, f"{layer.name}/kernel", kernel, layer.kernel_initializer, True,
                                  layer.kernel_regularizer))
            if layer.use_bias:
                out.append(WeightSpec(layer.name, f"{layer.name}/bias", bias, layer.bias_initializer, True,
                                      layer.bias_regularizer))
        elif layer.kind == "BatchNormalization":
            channels = (layer.input_shape[-1],)
            if layer.scale:
                out.append(WeightSpec(layer.name, f"{layer.name}/gamma", channels, _const(1.0), True))
            if layer.center:
                out.append(WeightSpec(layer.name, f"{layer.name}/beta", channels, _const(0.0), True))
            out.append(WeightSpec(layer.name, f"{layer.name}/moving_mean", channels, _const(0.0), False))
            out.append(WeightSpec(layer.name, f"{layer.name}/moving_variance", channels, _const(1.0), False))
        elif layer.kind == "Normalization" and layer.adapts:
            stats = layer.statistics_shape(layer.input_shape)
            out.append(WeightSpec(layer.name, f"{layer.name}/mean", stats, _const(0.0), False))
            out.append(WeightSpec(layer.name, f"{layer.name}/variance", stats, _const(1.0), False))
            out.append(WeightSpec(layer.name, f"{layer.name}/count", (), _const(0.0), False))
    return out
