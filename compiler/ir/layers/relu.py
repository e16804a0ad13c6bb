"""ReLU(max_value=m, negative_slope=s, threshold=t): y = clip(x·[x > t], 0, m) − s·max(t − x, 0).

Keras 3.15's ``keras.layers.ReLU`` (keras/src/activations/activations.py ``ReLU.static_call``), that is:

    y = min(x, m)       if x > t        (no m: y = x)
    y = 0               if x = t
    y = s·(x − t)       if x < t

The derivative is 1 where t < x < m (x = m included: TensorFlow's clip passes the gradient at its bounds,
except for relu6 — m = 6 with t = 0 — whose gradient is 0 at 6), s where x < t, and at x = t: 0, or s when the layer is a leaky ReLU (s > 0 with no m and t = 0:
Keras calls leaky_relu(x, s), whose derivative is s for x ≤ 0). Keras requires m ≥ 0 (or none), s ≥ 0, t ≥ 0.
ReLU() is ``relu``; ReLU(negative_slope=s) alone is ``leaky_relu(alpha=s)``; with m or t it is a clipped or
thresholded ReLU of the relu family (He initialization before it).
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.values import ActivationFn
from compiler.ir.layers.activation_layer import ActivationLayer


class ReLU(ActivationLayer):
    kind: Literal["ReLU"] = "ReLU"
    max_value: Annotated[float, Field(ge=0)] | None = None
    negative_slope: Annotated[float, Field(ge=0)] = 0.0
    threshold: Annotated[float, Field(ge=0)] = 0.0

    positional: ClassVar = ("max_value", "negative_slope", "threshold")
    snake_name: ClassVar = "re_lu"
    adapts_through: ClassVar = True

    @property
    def leaky(self) -> bool:
        """Keras' leaky_relu path: a negative slope with no max_value and threshold 0."""
        return self.negative_slope != 0 and self.max_value is None and self.threshold == 0

    @property
    def activation_is_exact(self) -> bool:
        return self.max_value is None and self.threshold == 0

    @property
    def activation(self) -> ActivationFn:
        if self.negative_slope != 0:
            return ActivationFn(kind="leaky_relu", alpha=self.negative_slope)
        return ActivationFn(kind="relu")
