"""The root of the IR: a validated, shape-checked model and its training settings."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Literal

from compiler.ir.base import IRNode, Shape, SourceSpan
from compiler.ir.training import Training
from compiler.layers import Layer

IR_VERSION = 1


class Spec(IRNode):
    """A compiled spec. ``layers[0]`` is the Input; shapes exclude the batch axis."""

    kind: Literal["spec"] = "spec"
    ir_version: int = IR_VERSION
    name: str
    source: str
    span: SourceSpan
    layers: tuple[Layer, ...]
    training: Training | None = None

    @property
    def input_shape(self) -> Shape:
        return self.layers[0].output_shape  # type: ignore[return-value]

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape  # type: ignore[return-value]

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable_params for layer in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return sum(layer.non_trainable_params for layer in self.layers)
