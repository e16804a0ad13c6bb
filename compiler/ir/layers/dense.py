"""Dense(units): y = activation(x·W + b), W of shape (in_features, units)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.layers.base import ShapeError, require_rank
from compiler.ir.layers.weighted import WeightedLayer


class Dense(WeightedLayer):
    kind: Literal["Dense"] = "Dense"
    units: Annotated[int, Field(gt=0)]

    positional: ClassVar = ("units", "activation")
    snake_name: ClassVar = "dense"

    def infer_shape(self, shape):
        if len(shape) != 1:
            hint = "; add Flatten() or GlobalAveragePooling2D() before it" if len(shape) == 3 else ""
            require_rank("Dense", shape, 1, hint)
        return (self.units,)

    def weight_shapes(self, shape):
        if len(shape) != 1:
            raise ShapeError("Dense needs a 1-D input")
        return (shape[0], self.units), (self.units,)
