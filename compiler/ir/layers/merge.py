"""What the merge layers share: two or more inputs combined into one output (Keras' ``Merge``).

Elementwise merges (Add, Subtract, Multiply, Average, Maximum, Minimum) take inputs of one rank whose sizes,
axis by axis, are equal or 1; a size-1 axis broadcasts against the others (Keras'
``_compute_elemwise_op_output_shape``). Inputs of different ranks are refused: Keras' shape rule aligns
them on the right but its computation inserts the missing axes after the batch axis, so the two disagree.
Concatenate (compiler/ir/layers/concatenate.py) has its own rule.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar

from pydantic import Field

from compiler.ir.base import Shape
from compiler.ir.layers.base import LayerBase, ShapeError, shape_tuple


class MergeLayer(LayerBase):
    """A layer of two or more inputs; ``input_shapes`` holds every input's shape, ``input_shape`` the first."""

    input_shapes: tuple[Shape, ...] | None = Field(default=None)

    is_merge: ClassVar = True
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None

    def infer_merge_shape(self, shapes: tuple[Shape, ...]) -> Shape:
        """The output shape for inputs of ``shapes``; raises ``ShapeError`` when they cannot be merged."""
        return elementwise_shape(self.kind, shapes)

    def infer_shape(self, shape: Shape) -> Shape:
        return self.infer_merge_shape((shape,))


class ElementwiseMerge(MergeLayer):
    """An elementwise merge: transparent for auto-init where the combination is linear (Add, Subtract, Average)."""

    adapts_through: ClassVar = True


def elementwise_shape(kind: str, shapes: tuple[Shape, ...]) -> Shape:
    """Keras' broadcast of ``shapes`` (each axis equal, or 1), all of one rank."""
    ranks = {len(s) for s in shapes}
    if len(ranks) > 1:
        raise ShapeError(f"{kind} needs inputs of one rank, received shapes "
                         f"{', '.join(shape_tuple(s) for s in shapes)}; add a Reshape to one of them")
    out = list(shapes[0])
    for shape in shapes[1:]:
        for axis, (a, b) in enumerate(zip(out, shape)):
            if a == 1:
                out[axis] = b
            elif b != 1 and a != b:
                raise ShapeError(f"{kind} cannot merge shapes {', '.join(shape_tuple(s) for s in shapes)}: "
                                 f"axis {axis + 1} has sizes {a} and {b} (each axis must be equal, or 1)")
    return tuple(out)
