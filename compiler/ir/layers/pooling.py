"""What MaxPooling2D and AveragePooling2D share: the window, its strides (default: the pool size), padding."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar

from pydantic import Field

from compiler.ir.layers.base import LayerBase, ShapeError, require_rank
from compiler.ir.layers.geometry import window_output_size

Pair = tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]


class Pooling2D(LayerBase):
    pool_size: Pair = (2, 2)
    strides: Pair | None = None  # None: the pool size, as in Keras; the compiler fills it in
    padding: str = "valid"

    positional: ClassVar = ("pool_size", "strides", "padding")
    transparent: ClassVar = True
    adapts_through: ClassVar = True
    passes_channel_offsets: ClassVar = True

    def infer_shape(self, shape):
        require_rank(self.kind, shape, 3)
        strides = self.strides or self.pool_size
        out = []
        for axis in range(2):
            n = window_output_size(shape[axis], self.pool_size[axis], strides[axis], self.padding)
            if n <= 0:
                raise ShapeError(f"{self.kind} window {self.pool_size[axis]} is larger than the input's "
                                 f"{('height', 'width')[axis]} {shape[axis]}: the output would be empty "
                                 f"(padding=valid)")
            out.append(n)
        return (out[0], out[1], shape[2])
