"""BatchNormalization over the last (channel) axis, with Keras' conventions pinned.

training: y = γ·(x − μ_B)/√(σ²_B + ε) + β, μ_B and σ²_B (biased) over all axes but the last;
moving = moving·momentum + batch·(1 − momentum), with the *biased* batch variance;
inference: the moving statistics replace the batch ones. Keras' defaults: momentum 0.99, ε 1e-3.
Parameters: γ (if scale) and β (if center) trainable; moving mean and variance not.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.layers.base import LayerBase
from compiler.ir.layers.weight import LayerWeight, constant


class BatchNormalization(LayerBase):
    kind: Literal["BatchNormalization"] = "BatchNormalization"
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.99
    epsilon: Annotated[float, Field(gt=0)] = 1e-3
    center: bool = True
    scale: bool = True

    positional: ClassVar = ()
    snake_name: ClassVar = "batch_normalization"
    transparent: ClassVar = True
    normalizes_batch: ClassVar = True
    scales_inputs: ClassVar = True

    def weights(self, shape):
        """One value per channel: ``gamma`` (ones, if scale) and ``beta`` (zeros, if center), trainable;
        ``moving_mean`` (zeros) and ``moving_variance`` (ones), not trainable."""
        channels = (shape[-1],)
        out = []
        if self.scale:
            out.append(LayerWeight("gamma", channels, constant(1.0), True))
        if self.center:
            out.append(LayerWeight("beta", channels, constant(0.0), True))
        return (*out, LayerWeight("moving_mean", channels, constant(0.0), False),
                LayerWeight("moving_variance", channels, constant(1.0), False))
