"""Concatenate(axis=-1): y = the inputs joined along ``axis`` (Keras counts the batch as axis 0, so -1 is the
channels of an image); every other axis must be equal. dxᵢ = the slice of dy that xᵢ filled."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from pydantic import field_validator

from compiler.ir.layers.base import ShapeError, shape_tuple
from compiler.ir.layers.merge import MergeLayer


class Concatenate(MergeLayer):
    kind: Literal["Concatenate"] = "Concatenate"
    axis: int = -1

    positional: ClassVar = ("axis",)
    snake_name: ClassVar = "concatenate"
    transparent: ClassVar = True  # a linear rearrangement: auto-init and the lints look through it
    adapts_through: ClassVar = True

    @field_validator("axis")
    @classmethod
    def _not_the_batch(cls, axis):
        if axis == 0:
            raise ValueError("axis 0 is the batch; concatenate along a feature axis (1, 2, ... or -1)")
        return axis

    def feature_axis(self, rank: int) -> int:
        """``axis`` as an index into a shape without the batch axis (0-based), for inputs of ``rank`` axes."""
        axis = self.axis - 1 if self.axis > 0 else rank + self.axis
        if not 0 <= axis < rank:
            raise ShapeError(f"Concatenate: axis {self.axis} is out of range for inputs of {rank} axes besides "
                             f"the batch (use 1 to {rank}, or -1 to -{rank})")
        return axis

    def infer_merge_shape(self, shapes):
        ranks = {len(s) for s in shapes}
        if len(ranks) > 1:
            raise ShapeError("Concatenate needs inputs of one rank, received shapes "
                             + ", ".join(shape_tuple(s) for s in shapes))
        axis = self.feature_axis(len(shapes[0]))
        for shape in shapes[1:]:
            for i, (a, b) in enumerate(zip(shapes[0], shape)):
                if i != axis and a != b:
                    raise ShapeError(f"Concatenate along axis {self.axis} needs every other axis equal, received "
                                     f"shapes {', '.join(shape_tuple(s) for s in shapes)}")
        out = list(shapes[0])
        out[axis] = sum(s[axis] for s in shapes)
        return tuple(out)
