"""What DepthwiseConv2D and SeparableConv2D share: the depthwise step, its arguments and its shape rule.

Depthwise step (Keras' ``ops.depthwise_conv``, TensorFlow's ``depthwise_conv2d``): every input channel c is
convolved with its own ``depth_multiplier`` kernels, and output channel c·depth_multiplier + m is

    d[n,i,j,c·M+m] = Σ_{di,dj} x_pad[n, i·s_h + di·d_h, j·s_w + dj·d_w, c] · K[di,dj,c,m]

with K of shape (kh, kw, in_channels, depth_multiplier) and TensorFlow's asymmetric ``same`` padding. Keras
3 allows strides > 1 together with dilation_rate > 1 here (it runs the dilated convolution at stride 1 and
subsamples, which is the formula above), unlike Conv2D; the two strides must be equal (TensorFlow's depthwise
convolution refuses others).

``auto`` initializers (the default of ``depthwise_initializer``, and of SeparableConv2D's
``pointwise_initializer``) are chosen like a Conv2D's kernel: He before a ReLU-family activation, Glorot
otherwise (``kernel_initializer_fields``); Keras' own default is glorot_uniform. Fans are Keras'
``compute_fans`` of the kernel's shape: fan_in = kh·kw·in_channels, fan_out = kh·kw·depth_multiplier.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from compiler.ir.layers.base import LayerBase, ShapeError, require_rank
from compiler.ir.layers.geometry import conv_output_hw
from compiler.ir.values import ActivationFn, Auto, ConstantInit, Initializer, Regularizer

Pair = tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]


class DepthwiseBase(LayerBase):
    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Literal["valid", "same"] = "valid"
    depth_multiplier: Annotated[int, Field(gt=0)] = 1
    dilation_rate: Pair = (1, 1)
    activation: ActivationFn = ActivationFn.model_construct()
    use_bias: bool = True
    depthwise_initializer: Initializer = Auto.model_construct()
    bias_initializer: Initializer = ConstantInit.model_construct(kind="zeros")
    depthwise_regularizer: Regularizer | None = None
    bias_regularizer: Regularizer | None = None
    activity_regularizer: Regularizer | None = None

    # a kernel whose initializer auto-init chooses for the activation that follows (its activation is a step
    # of its own after the linear part, as a Conv2D's)
    has_kernel: ClassVar = True
    # the fields that hold kernel initializers (``auto`` resolved by compiler/passes/initializers.py)
    kernel_initializer_fields: ClassVar[tuple[str, ...]] = ("depthwise_initializer",)

    @field_validator("bias_initializer")
    @classmethod
    def _bias_is_a_vector(cls, init):
        if init.kind == "orthogonal":
            raise ValueError("orthogonal needs a matrix, and a bias is a vector; use zeros, constant(...) or a "
                             "random initializer")
        return init

    def spatial_shape(self, shape) -> tuple[int, int]:
        """The output's (height, width) for an (h, w, c) input: TensorFlow's conv arithmetic (geometry.py)."""
        require_rank(self.kind, shape, 3)
        if self.strides[0] != self.strides[1]:
            raise ShapeError(f"{self.kind} needs the same stride along height and width (TensorFlow's depthwise "
                             f"convolution, which Keras runs, supports no other), received strides="
                             f"[{self.strides[0]}, {self.strides[1]}]")
        return conv_output_hw(self.kind, shape, self.kernel_size, self.strides, self.padding, self.dilation_rate)

    def depthwise_shape(self, shape) -> tuple[int, int, int, int]:
        """The depthwise kernel: (kh, kw, in_channels, depth_multiplier), Keras' layout."""
        return (*self.kernel_size, shape[-1], self.depth_multiplier)
