"""Reshape(target_shape): y = x with its values, in row-major NHWC order, laid out in the shape ``target_shape``.

y[n].ravel() = x[n].ravel() (C order, channels fastest in an image, as Keras); the output shape is
``target_shape`` (without the batch axis), one of whose entries may be -1: it is then the input's size
divided by the product of the others (Keras' ``compute_reshape_output_shape``). The total size must be
unchanged. Gradient: dx = dy reshaped to the input's shape.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from compiler.ir.layers.base import LayerBase, ShapeError, shape_tuple


class Reshape(LayerBase):
    kind: Literal["Reshape"] = "Reshape"
    target_shape: Annotated[tuple[int, ...], Field(min_length=1)]

    positional: ClassVar = ("target_shape",)
    snake_name: ClassVar = "reshape"
    transparent: ClassVar = True
    adapts_through: ClassVar = True

    @field_validator("target_shape")
    @classmethod
    def _sizes(cls, target):
        if any(d == 0 or d < -1 for d in target) or target.count(-1) > 1:
            raise ValueError(f"expected positive sizes with at most one -1 (the size inferred from the input), "
                             f"received [{', '.join(map(str, target))}]")
        return target

    def infer_shape(self, shape):
        size = 1
        for d in shape:
            size *= d
        known = 1
        for d in self.target_shape:
            if d != -1:
                known *= d
        written = "[" + ", ".join(map(str, self.target_shape)) + "]"
        if -1 in self.target_shape:
            if size % known:
                raise ShapeError(f"Reshape cannot lay out the {size} values of input shape {shape_tuple(shape)} "
                                 f"as target_shape {written}: {size} is not a multiple of {known}")
            return tuple(size // known if d == -1 else d for d in self.target_shape)
        if known != size:
            raise ShapeError(f"Reshape cannot lay out the {size} values of input shape {shape_tuple(shape)} as "
                             f"target_shape {written} ({known} values): the total size must be unchanged")
        return tuple(self.target_shape)
