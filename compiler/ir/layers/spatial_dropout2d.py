"""SpatialDropout2D(rate): drops whole feature maps: m ~ Bernoulli(1−rate) per (sample, channel), y = x·m/(1−rate)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.layers.base import LayerBase, require_rank


class SpatialDropout2D(LayerBase):
    kind: Literal["SpatialDropout2D"] = "SpatialDropout2D"
    rate: Annotated[float, Field(ge=0, lt=1)]

    positional: ClassVar = ("rate",)
    snake_name: ClassVar = "spatial_dropout2d"
    transparent: ClassVar = True
    random: ClassVar = True

    @property
    def draws_masks(self) -> bool:
        return self.rate > 0

    def infer_shape(self, shape):
        require_rank("SpatialDropout2D", shape, 3, "; use Dropout for 1-D features")
        return shape
