"""SeparableConv2D(filters, kernel_size): y = activation(b + DepthwiseConv2D(x)·P), a depthwise then a 1×1 conv.

d[n,i,j,c·M+m] = Σ_{di,dj} x_pad[n, i·s_h + di·d_h, j·s_w + dj·d_w, c] · D[di,dj,c,m]   (no bias)
y[n,i,j,f]     = activation(b[f] + Σ_k d[n,i,j,k] · P[0,0,k,f])

M = depth_multiplier; D is ``depthwise_kernel`` (kh, kw, in_channels, M), P ``pointwise_kernel``
(1, 1, in_channels·M, filters), b ``bias`` (filters); strides, padding (TensorFlow's asymmetric ``same``) and
dilation belong to the depthwise step (compiler/ir/layers/depthwise.py), the pointwise step is 1×1.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.layers.depthwise import DepthwiseBase
from compiler.ir.layers.weight import LayerWeight
from compiler.ir.values import Auto, Initializer, Regularizer


class SeparableConv2D(DepthwiseBase):
    kind: Literal["SeparableConv2D"] = "SeparableConv2D"
    filters: Annotated[int, Field(gt=0)]
    pointwise_initializer: Initializer = Auto.model_construct()
    pointwise_regularizer: Regularizer | None = None

    positional: ClassVar = ("filters", "kernel_size", "strides", "padding")
    snake_name: ClassVar = "separable_conv2d"
    kernel_initializer_fields: ClassVar = ("depthwise_initializer", "pointwise_initializer")

    def infer_shape(self, shape):
        h, w = self.spatial_shape(shape)
        return (h, w, self.filters)

    def weights(self, shape):
        """``depthwise_kernel`` (kh, kw, in_channels, depth_multiplier), ``pointwise_kernel``
        (1, 1, in_channels·depth_multiplier, filters), then ``bias`` (filters) when ``use_bias``: Keras' order."""
        out = [LayerWeight("depthwise_kernel", self.depthwise_shape(shape), self.depthwise_initializer, True,
                           self.depthwise_regularizer),
               LayerWeight("pointwise_kernel", (1, 1, shape[-1] * self.depth_multiplier, self.filters),
                           self.pointwise_initializer, True, self.pointwise_regularizer)]
        if self.use_bias:
            out.append(LayerWeight("bias", (self.filters,), self.bias_initializer, True, self.bias_regularizer))
        return tuple(out)
