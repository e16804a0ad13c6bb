"""Arguments shared by layers with a kernel and a bias (Dense, Conv2D)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar

from pydantic import field_validator

from compiler.ir.values import ActivationFn, Auto, ConstantInit, Initializer, Regularizer
from compiler.ir.layers.base import LayerBase
from compiler.ir.layers.weight import LayerWeight


class WeightedLayer(LayerBase):
    """kernel and bias with their initializers and regularizers, an activity regularizer and activation."""

    has_kernel: ClassVar = True

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

    def weights(self, shape):
        """``kernel`` (the subclass's layout, ``weight_shapes``), then ``bias`` (units or filters) when
        ``use_bias``; both trainable, with the spec's initializers and regularizers."""
        kernel, bias = self.weight_shapes(shape)
        out = [LayerWeight("kernel", kernel, self.kernel_initializer, True, self.kernel_regularizer)]
        if self.use_bias:
            out.append(LayerWeight("bias", bias, self.bias_initializer, True, self.bias_regularizer))
        return tuple(out)

    def weight_shapes(self, shape) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """(kernel shape, bias shape) for input ``shape``, in Keras' layout."""
        raise NotImplementedError
