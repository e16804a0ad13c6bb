"""Input(shape): the model's one input, channels-last, without the batch axis."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.layers.base import LayerBase


class Input(LayerBase):
    kind: Literal["Input"] = "Input"
    shape: Annotated[tuple[Annotated[int, Field(gt=0)], ...], Field(min_length=1)]

    positional: ClassVar = ("shape",)
    snake_name: ClassVar = "input_layer"
    is_input: ClassVar = True
    adapts_through: ClassVar = True

    def infer_shape(self, shape):
        return self.shape
