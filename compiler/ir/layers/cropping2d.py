"""Cropping2D(cropping=0): rows removed from the top and bottom of an image, columns from its left and right.

y[n, i, j, c] = x[n, top + i, left + j, c], of shape (h − top − bottom, w − left − right, c). ``cropping``
as Keras takes it: ``p``, ``[h, w]`` or ``[[top, bottom], [left, right]]``; what is cropped along an axis
must be less than its size (Keras' rule: at least one row and one column are left). Gradient: dx = dy
with zeros where the cropped pixels were (the adjoint of ZeroPadding2D).
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from pydantic import field_validator

from compiler.ir.layers.base import LayerBase, ShapeError, require_rank, shape_tuple
from compiler.ir.layers.sides import SideAmounts, side_amounts


class Cropping2D(LayerBase):
    kind: Literal["Cropping2D"] = "Cropping2D"
    cropping: SideAmounts = ((0, 0), (0, 0))

    positional: ClassVar = ("cropping",)
    snake_name: ClassVar = "cropping2d"
    transparent: ClassVar = True
    adapts_through: ClassVar = True
    passes_channel_offsets: ClassVar = True

    @field_validator("cropping", mode="before")
    @classmethod
    def _keras_forms(cls, value):
        return side_amounts(value)

    def infer_shape(self, shape):
        require_rank("Cropping2D", shape, 3)
        out = []
        for axis, ((before, after), what, sides) in enumerate(zip(self.cropping, ("rows", "columns"),
                                                                   ("top and bottom", "left and right"))):
            if before + after >= shape[axis]:
                raise ShapeError(f"Cropping2D crops {before} + {after} {what} ({sides}) from the {shape[axis]} {what} "
                                 f"of its input {shape_tuple(shape)}: nothing would be left; the cropping must "
                                 f"be smaller than the size, as in Keras")
            out.append(shape[axis] - before - after)
        return (out[0], out[1], shape[2])
