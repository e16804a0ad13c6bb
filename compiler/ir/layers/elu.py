"""ELU(alpha=α): y = x if x > 0 else α·(eˣ − 1); α = 1.0 by default.

The derivative is 1 if x > 0 else α·eˣ (α at 0): Keras 3.15's ``keras.layers.ELU`` (TensorFlow's elu, times α
where x ≤ 0). It is ``elu(alpha=α)``."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.values import ActivationFn
from compiler.ir.layers.activation_layer import ActivationLayer


class ELU(ActivationLayer):
    kind: Literal["ELU"] = "ELU"
    alpha: float = 1.0

    positional: ClassVar = ("alpha",)
    snake_name: ClassVar = "elu"
    adapts_through: ClassVar = True

    @property
    def activation(self) -> ActivationFn:
        return ActivationFn(kind="elu", alpha=self.alpha)
