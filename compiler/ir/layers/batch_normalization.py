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


class BatchNormalization(LayerBase):
    kind: Literal["BatchNormalization"] = "BatchNormalization"
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.99
    epsilon: Annotated[float, Field(gt=0)] = 1e-3
    center: bool = True
    scale: bool = True

    positional: ClassVar = ()
    weight_names: ClassVar = ("gamma", "beta", "moving_mean", "moving_variance")
    snake_name: ClassVar = "batch_normalization"

    def count_params(self, shape):
        channels = shape[-1]
        return channels * (int(self.center) + int(self.scale)), 2 * channels
