"""Softmax(axis=-1): y = eˣ / Σ eˣ, the sum over ``axis`` (one axis or a list; -1: the last).

Keras 3.15's ``keras.layers.Softmax`` (shifted by the maximum); the gradient dx = y·(dy − Σ dy·y), the sums
over the same axes.

``axis`` counts the batch axis as 0 (as Keras), negative from the end: -1 is the last axis (the classes of a
(batch, classes) output, the channels of an image). A list normalises over several axes at once (Keras'
exp(x − logsumexp(x, axes))). The batch axis cannot be one of them: it would make each sample's output depend
on the others in its batch. Softmax over the last axis alone is ``softmax``, which a ``from_logits=false``
cross-entropy fuses with as it does with ``Activation(softmax)`` (compiler.semantics.losses).
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from pydantic import field_validator

from compiler.ir.values import ActivationFn
from compiler.ir.layers.activation_layer import ActivationLayer
from compiler.ir.layers.base import ShapeError, shape_tuple


class Softmax(ActivationLayer):
    kind: Literal["Softmax"] = "Softmax"
    axis: int | tuple[int, ...] = -1

    positional: ClassVar = ("axis",)
    snake_name: ClassVar = "softmax"
    adapts_through: ClassVar = True

    @field_validator("axis")
    @classmethod
    def _axes(cls, axis):
        if isinstance(axis, tuple):
            if not axis:
                raise ValueError("axis is an empty list; give one axis or more")
        return axis

    def axes(self, shape) -> tuple[int, ...]:
        """The axes normalised over, for a per-sample input ``shape``, counted with the batch axis as 0, sorted;
        raises ``ShapeError`` for an axis out of range, the batch axis, or an axis given twice."""
        ndim = len(shape) + 1
        given = (self.axis,) if isinstance(self.axis, int) else tuple(self.axis)
        out = []
        for a in given:
            if not -ndim <= a < ndim:
                raise ShapeError(f"Softmax: axis {a} is out of range for the input {shape_tuple(shape)}: give "
                                 f"{_valid(ndim)}")
            a %= ndim
            if a == 0:
                raise ShapeError(f"Softmax: axis {given[len(out)]} is the batch axis of {shape_tuple(shape)}: a "
                                 "softmax over it would make each sample's output depend on the others in its "
                                 f"batch; give {_valid(ndim)}")
            if a in out:
                raise ShapeError(f"Softmax: axis {list(given)} names axis {a} twice")
            out.append(a)
        return tuple(sorted(out))

    def infer_shape(self, shape):
        self.axes(shape)
        return shape

    @property
    def over_last_axis(self) -> bool:
        """True when the softmax is over the last axis alone (known before shapes only for -1)."""
        if self.input_shape is None:
            return self.axis == -1 or self.axis == (-1,)
        return self.axes(self.input_shape) == (len(self.input_shape),)

    @property
    def activation_is_exact(self) -> bool:
        return self.over_last_axis

    @property
    def activation(self) -> ActivationFn:
        return ActivationFn(kind="softmax")


def _valid(ndim: int) -> str:
    """The axes a Softmax may name on an input of ``ndim`` axes, batch included."""
    return "1 or -1" if ndim == 2 else f"1 to {ndim - 1}, or -1 to -{ndim - 1} from the end"
