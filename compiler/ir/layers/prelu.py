"""PReLU(alpha_initializer, alpha_regularizer, shared_axes): y = x if x > 0 else α·x, α trainable, per position.

α has the input's shape (1 on the shared axes). Keras 3.15's ``keras.layers.PReLU`` computes
y = relu(x) − α·relu(−x) (derivative 1 where x > 0, α where x < 0, 0 at x = 0; ∂y/∂α = min(x, 0), summed
over the batch and the shared axes).

``shared_axes`` (1-based, the batch axis is 0, as Keras): the axes along which one α serves every position,
its size 1 in α's shape — ``shared_axes=[1, 2]`` after a convolution gives one α per channel, shape (1, 1, C).
Parameters: the product of α's shape. Keras' ``alpha_constraint`` is not part of the language.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from pydantic import field_validator

from compiler.ir.values import ActivationFn, ConstantInit, Initializer, Regularizer
from compiler.ir.layers.activation_layer import ActivationLayer
from compiler.ir.layers.base import ShapeError, shape_tuple
from compiler.ir.layers.weight import LayerWeight


class PReLU(ActivationLayer):
    kind: Literal["PReLU"] = "PReLU"
    alpha_initializer: Initializer = ConstantInit.model_construct(kind="zeros")
    alpha_regularizer: Regularizer | None = None
    shared_axes: int | tuple[int, ...] | None = None

    positional: ClassVar = ("alpha_initializer", "alpha_regularizer")
    snake_name: ClassVar = "p_re_lu"

    @field_validator("alpha_initializer")
    @classmethod
    def _not_auto(cls, init):
        if init.kind == "auto":
            raise ValueError("auto chooses a kernel's initializer; give alpha's (PReLU starts as a ReLU with "
                             "zeros, Keras' default)")
        return init

    @field_validator("shared_axes")
    @classmethod
    def _distinct(cls, axes):
        if isinstance(axes, tuple) and len(set(axes)) != len(axes):
            raise ValueError(f"shared_axes lists an axis twice: {list(axes)}")
        return axes

    @property
    def shared(self) -> tuple[int, ...]:
        """The shared axes as a tuple (1-based, batch axis 0)."""
        return () if self.shared_axes is None else (
            (self.shared_axes,) if isinstance(self.shared_axes, int) else tuple(self.shared_axes))

    def alpha_shape(self, shape) -> tuple[int, ...]:
        """α's shape for a per-sample input ``shape``: the input's, 1 on every shared axis."""
        out = list(shape)
        for axis in self.shared:
            if not 1 <= axis <= len(shape):
                raise ShapeError(f"PReLU: shared_axes {list(self.shared)} must name axes 1 to {len(shape)} of the "
                                 f"input {shape_tuple(shape)} (the batch axis is 0); received {axis}")
            out[axis - 1] = 1
        return tuple(out)

    def infer_shape(self, shape):
        self.alpha_shape(shape)
        return shape

    def weights(self, shape):
        """``alpha``: the input's shape with 1 on the shared axes, trainable, zeros by default."""
        alpha = self.alpha_shape(shape)
        if self.alpha_initializer.kind == "orthogonal" and len(alpha) < 2:
            raise ShapeError(f"PReLU: orthogonal needs a weight of rank 2 or more (as Keras); alpha has shape "
                             f"{alpha}")
        return (LayerWeight("alpha", alpha, self.alpha_initializer, True, self.alpha_regularizer),)

    @property
    def activation(self) -> ActivationFn:
        return ActivationFn(kind="leaky_relu")

    @property
    def activation_is_exact(self) -> bool:
        return False
