"""The root of the IR: a validated, shape-checked model and its training settings."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Literal

from pydantic import model_validator

from compiler.ir.base import IRNode, Shape, SourceSpan
from compiler.ir.names import ModelName, show_name
from compiler.ir.training import Training
from compiler.ir.layers import Layer

IR_VERSION = 1


class Spec(IRNode):
    """A compiled spec. ``layers[0]`` is the Input; shapes exclude the batch axis.

    Validation (``model_validate``, ``model_validate_json``) checks every name against the rule of
    ``compiler.ir.names`` and that the layers' names are unique; ``compiler.passes.verify`` checks the
    rest of what the compiler guarantees.
    """

    kind: Literal["spec"] = "spec"
    ir_version: int = IR_VERSION
    name: ModelName
    source: str
    span: SourceSpan
    layers: tuple[Layer, ...]
    training: Training | None = None

    @model_validator(mode="after")
    def _layer_names_are_unique(self) -> "Spec":
        seen: dict[str, int] = {}
        for i, layer in enumerate(self.layers):
            if not layer.name:
                raise ValueError(f"layer {i} ({layer.kind}) has no name")
            if layer.name in seen:
                raise ValueError(f"layers {seen[layer.name]} and {i} are both named {show_name(layer.name)}; "
                                 "layer names must be unique")
            seen[layer.name] = i
        return self

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
