"""Arguments shared by layers with a kernel and a bias (Dense, Conv2D)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from pydantic import field_validator

from compiler.ir.values import ActivationFn, Auto, ConstantInit, Initializer, Regularizer
from compiler.ir.layers.base import LayerBase


class WeightedLayer(LayerBase):
    """kernel and bias with their initializers and regularizers, an activity regularizer and activation."""

    activation: ActivationFn = ActivationFn.model_construct()
    use_bias: bool = True
    kernel_initializer: Initializer = Auto.model_construct()
    bias_initializer: Initializer = ConstantInit.model_construct(kind="zeros")
    kernel_regularizer: Regularizer | None = None
    bias_regularizer: Regularizer | None = None
    activity_regularizer: Regularizer | None = None

    @field_validator("bias_initializer")
    @classmethod
    def _bias_is_a_vector(cls, init):
        if init.kind == "orthogonal":
            raise ValueError("orthogonal needs a matrix, and a bias is a vector; use zeros, constant(...) or a "
                             "random initializer")
        return init

    def count_params(self, shape):
        kernel, bias = self.weight_shapes(shape)
        return (_size(kernel) + (_size(bias) if self.use_bias else 0)), 0

    def weight_shapes(self, shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
        raise NotImplementedError


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
