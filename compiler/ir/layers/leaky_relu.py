"""LeakyReLU(negative_slope=s): y = x if x > 0 else s·x; s = 0.3 by default (Keras' layer; its function: 0.2).

The derivative is 1 if x > 0 else s (s at 0, as TensorFlow's leaky_relu): Keras 3.15's ``keras.layers.LeakyReLU``.
Its default slope is the layer's, 0.3 — not the 0.2 of the ``leaky_relu`` activation function. Keras requires
s ≥ 0. It is ``leaky_relu(alpha=s)``.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.values import ActivationFn
from compiler.ir.layers.activation_layer import ActivationLayer


class LeakyReLU(ActivationLayer):
    kind: Literal["LeakyReLU"] = "LeakyReLU"
    negative_slope: Annotated[float, Field(ge=0)] = 0.3

    positional: ClassVar = ("negative_slope",)
    snake_name: ClassVar = "leaky_re_lu"
    adapts_through: ClassVar = True

    @property
    def activation(self) -> ActivationFn:
        return ActivationFn(kind="leaky_relu", alpha=self.negative_slope)
