"""Arguments shared by the per-sample normalizations (LayerNormalization, GroupNormalization): ε, and the
learnt scale γ and offset β with their initializers and regularizers, under Keras' names and defaults.

y = γ·x̂ + β, with x̂ the layer's normalized input; ``scale=false`` drops γ, ``center=false`` drops β.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar

from pydantic import Field, field_validator

from compiler.ir.values import ConstantInit, Initializer, Regularizer
from compiler.ir.layers.base import LayerBase
from compiler.ir.layers.weight import LayerWeight


class ScaleShiftLayer(LayerBase):
    """ε, γ (``gamma``, ones) and β (``beta``, zeros), each with Keras' initializer and regularizer arguments."""

    # auto-init looks through it (no nonlinearity of its own); it brings its input to a known scale
    transparent: ClassVar = True
    scales_inputs: ClassVar = True

    epsilon: Annotated[float, Field(gt=0)] = 1e-3
    center: bool = True
    scale: bool = True
    beta_initializer: Initializer = ConstantInit.model_construct(kind="zeros")
    gamma_initializer: Initializer = ConstantInit.model_construct(kind="ones", value=1.0)
    beta_regularizer: Regularizer | None = None
    gamma_regularizer: Regularizer | None = None

    @field_validator("beta_initializer", "gamma_initializer")
    @classmethod
    def _not_a_kernel_initializer(cls, init, info):
        if init.kind == "auto":
            raise ValueError(f"auto chooses a kernel's initializer for the activation after it; {info.field_name} "
                             f"is a scale or an offset: give ones, zeros, constant(...) or a random initializer")
        if init.kind == "orthogonal":
            raise ValueError(f"orthogonal needs a matrix, and {info.field_name.split('_')[0]} is a scale or offset "
                             f"per position; use ones, zeros, constant(...) or a random initializer")
        return init

    def scale_shift_weights(self, shape: tuple[int, ...]) -> tuple[LayerWeight, ...]:
        """``gamma`` (if scale) then ``beta`` (if center), both of ``shape`` and trainable, as Keras builds them."""
        out = []
        if self.scale:
            out.append(LayerWeight("gamma", shape, self.gamma_initializer, True, self.gamma_regularizer))
        if self.center:
            out.append(LayerWeight("beta", shape, self.beta_initializer, True, self.beta_regularizer))
        return tuple(out)
