"""ZeroPadding2D(padding=1): rows of zeros above and below an image, columns of zeros left and right of it.

y[n, top + i, left + j, c] = x[n, i, j, c] for every pixel of x; the other entries of the output, of shape
(h + top + bottom, w + left + right, c), are 0. ``padding`` as Keras takes it: ``p`` (p on every side),
``[h, w]`` (h above and below, w left and right) or ``[[top, bottom], [left, right]]``. Gradient: dx = dy
cropped to the input's pixels (the adjoint of Cropping2D).
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from pydantic import field_validator

from compiler.ir.layers.base import LayerBase, require_rank
from compiler.ir.layers.sides import SideAmounts, side_amounts


class ZeroPadding2D(LayerBase):
    kind: Literal["ZeroPadding2D"] = "ZeroPadding2D"
    padding: SideAmounts = ((1, 1), (1, 1))

    positional: ClassVar = ("padding",)
    snake_name: ClassVar = "zero_padding2d"
    transparent: ClassVar = True
    adapts_through: ClassVar = True

    @field_validator("padding", mode="before")
    @classmethod
    def _keras_forms(cls, value):
        return side_amounts(value)

    def infer_shape(self, shape):
        require_rank("ZeroPadding2D", shape, 3)
        (top, bottom), (left, right) = self.padding
        return (shape[0] + top + bottom, shape[1] + left + right, shape[2])
