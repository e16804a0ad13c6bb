"""Permute(dims): y = x with its axes reordered, the batch axis staying first; ``dims`` counts from 1, as Keras.

y[n, i_1, …, i_k] = x[n, j_1, …, j_k] with j_{dims[a]} = i_a: output axis a is input axis dims[a]
(``ops.transpose(x, (0, *dims))``); ``dims`` is a permutation of 1..k, k the input's rank without the batch.
``Permute([2, 1, 3])`` swaps an image's height and width. Gradient: dy transposed back by the inverse
permutation.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from compiler.ir.layers.base import LayerBase, ShapeError, shape_tuple


class Permute(LayerBase):
    kind: Literal["Permute"] = "Permute"
    dims: Annotated[tuple[int, ...], Field(min_length=1)]

    positional: ClassVar = ("dims",)
    snake_name: ClassVar = "permute"
    transparent: ClassVar = True
    adapts_through: ClassVar = True

    @field_validator("dims")
    @classmethod
    def _is_a_permutation(cls, dims):
        if sorted(dims) != list(range(1, len(dims) + 1)):
            raise ValueError(f"expected a permutation of 1..{len(dims)} (the axes after the batch axis, counted "
                             f"from 1 as Keras does), received [{', '.join(map(str, dims))}]")
        return dims

    def infer_shape(self, shape):
        if len(self.dims) != len(shape):
            raise ShapeError(f"Permute dims [{', '.join(map(str, self.dims))}] reorder {len(self.dims)} axes, but "
                             f"the input {shape_tuple(shape)} has {len(shape)} after the batch axis")
        return tuple(shape[d - 1] for d in self.dims)

    def transpose_axes(self, channels_first: bool = False) -> tuple[int, ...]:
        """The axes that transpose the batch as Keras' ``transpose(x, (0, *dims))`` does. ``channels_first``: the
        same permutation on an image batch stored NCHW (as the torch backend and the emitted PyTorch hold one),
        giving NCHW again (the rank is kept): NCHW → NHWC, Keras' axes, NHWC → NCHW, composed into one."""
        axes = (0, *self.dims)
        if not channels_first or len(self.dims) != 3:
            return axes
        to_nhwc, to_nchw = (0, 2, 3, 1), (0, 3, 1, 2)
        return tuple(to_nhwc[axes[to_nchw[i]]] for i in range(4))
