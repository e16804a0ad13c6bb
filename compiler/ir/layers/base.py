"""What every layer kind shares: its name, span, inferred shapes and parameter counts."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar

from compiler.ir.base import IRNode, Shape, SourceSpan
from compiler.ir.names import LayerName
from compiler.ir.values import ActivationFn

# Fields filled by the compiler, not arguments a spec may pass.
BOOKKEEPING = frozenset({"kind", "span", "input_shape", "output_shape", "trainable_params", "non_trainable_params"})


class ShapeError(Exception):
    """A layer cannot take the shape it is given; ``message`` is shown at the layer's span."""


class LayerBase(IRNode):
    """A layer: ``kind`` is the discriminator; shapes and counts exclude the batch axis."""

    kind: str
    name: LayerName = ""  # "" until the compiler names it; the rule: compiler.ir.names
    span: SourceSpan
    input_shape: Shape | None = None
    output_shape: Shape | None = None
    trainable_params: int = 0
    non_trainable_params: int = 0

    positional: ClassVar[tuple[str, ...]] = ()  # arguments that may be given by position, in order
    weight_names: ClassVar[tuple[str, ...]] = ()
    snake_name: ClassVar[str] = ""  # Keras' automatic layer name stem ("conv2d", "batch_normalization")

    @classmethod
    def argument_names(cls) -> list[str]:
        return [f for f in cls.model_fields if f not in BOOKKEEPING]

    def infer_shape(self, shape: Shape) -> Shape:
        """The output shape for input ``shape``; raises ``ShapeError`` when it does not fit."""
        return shape

    def count_params(self, shape: Shape) -> tuple[int, int]:
        """(trainable, non-trainable) parameters for input ``shape``."""
        return 0, 0

    @property
    def activation_fn(self) -> ActivationFn | None:
        """The activation this layer applies itself, if any."""
        return getattr(self, "activation", None)


def require_rank(kind: str, shape: Shape, rank: int, hint: str = "") -> None:
    """Raise ``ShapeError`` unless ``shape`` (without batch) has ``rank`` axes."""
    if len(shape) != rank:
        want = {1: "a 1-D feature vector (batch, features)", 3: "a 3-D image (batch, height, width, channels)"}[rank]
        raise ShapeError(f"{kind} expects {want}, received shape {shape_tuple(shape)}{hint}")


def shape_tuple(shape: Shape) -> str:
    return "(" + ", ".join(["batch", *map(str, shape)]) + ")"
