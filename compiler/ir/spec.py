"""The root of the IR: a validated, shape-checked model and its training settings."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, Literal

from pydantic import Field, model_validator

from compiler.ir.base import IRNode, Shape, SourceSpan
from compiler.ir.names import LayerName, ModelName, show_name
from compiler.ir.training import Training
from compiler.ir.layers import Layer

IR_VERSION = 2  # 2: models are graphs (layers name their inputs; the spec names its outputs)


class Spec(IRNode):
    """A compiled spec: a directed acyclic graph of layers (``compiler.ir.graph``). ``layers`` lists them
    with every layer after its inputs (``layers[0]`` is an Input); ``outputs`` names the layers whose outputs
    are the model's, in order (empty in an IR written before graphs: the last layer). Shapes exclude the
    batch axis.

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
    outputs: tuple[LayerName, ...] = ()
    # the key of each output (``output NAME = ...``), in ``outputs``' order; () when no line names one
    output_keys: Annotated[tuple[str, ...], Field(exclude_if=lambda keys: not keys)] = ()
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
    def output_names(self) -> tuple[str, ...]:
        """The names of the layers whose outputs the model returns, in order."""
        return self.outputs or (self.layers[-1].name,)

    @property
    def output_key_names(self) -> tuple[str, ...]:
        """The key of each output, in order: its ``output NAME``, else its layer's name. The train section's
        ``loss = {key: ...}``, the data's ``y={key: ...}`` and the history's ``key_loss`` use them."""
        return self.output_keys or self.output_names

    @property
    def input_key_names(self) -> tuple[str, ...]:
        """The key of each Input: its layer's name (``image = Input(...)`` names the layer ``image``)."""
        return tuple(layer.name for layer in self.input_layers)

    @property
    def multi_io(self) -> bool:
        """True when the model has several inputs or several outputs: its data are named arrays
        (``compiler.semantics.outputs``); else one array in, one array out."""
        return len(self.output_names) > 1 or len(self.input_layers) > 1

    @property
    def output_layers(self) -> tuple:
        by_name = {layer.name: layer for layer in self.layers}
        return tuple(by_name[name] for name in self.output_names)

    @property
    def input_layers(self) -> tuple:
        """The model's Input layers, in order."""
        return tuple(layer for layer in self.layers if layer.is_input)

    @property
    def input_shape(self) -> Shape:
        """The first input's shape."""
        return self.layers[0].output_shape  # type: ignore[return-value]

    @property
    def output_shape(self) -> Shape:
        """The first output's shape."""
        if not self.outputs:
            return self.layers[-1].output_shape  # type: ignore[return-value]
        return self.output_layers[0].output_shape

    @property
    def trainable_params(self) -> int:
        return sum(layer.trainable_params for layer in self.layers)

    @property
    def non_trainable_params(self) -> int:
        return sum(layer.non_trainable_params for layer in self.layers)
