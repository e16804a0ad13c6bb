"""DepthwiseConv2D(kernel_size): y[..., c·M+m] = activation(b + x[..., c] ⋆ K[:, :, c, m]), channels convolved apart.

y[n,i,j,c·M+m] = activation(b[c·M+m] + Σ_{di,dj} x_pad[n, i·s_h + di·d_h, j·s_w + dj·d_w, c] · K[di,dj,c,m])

M = depth_multiplier; K is Keras' ``kernel`` of shape (kh, kw, in_channels, M), b its ``bias`` of
in_channels·M; TensorFlow's asymmetric ``same`` padding (compiler/ir/layers/depthwise.py).
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.depthwise import DepthwiseBase
from compiler.ir.layers.weight import LayerWeight


class DepthwiseConv2D(DepthwiseBase):
    kind: Literal["DepthwiseConv2D"] = "DepthwiseConv2D"

    positional: ClassVar = ("kernel_size", "strides", "padding", "depth_multiplier")
    snake_name: ClassVar = "depthwise_conv2d"

    def infer_shape(self, shape):
        h, w = self.spatial_shape(shape)
        return (h, w, shape[-1] * self.depth_multiplier)

    def weights(self, shape):
        """``kernel`` (kh, kw, in_channels, depth_multiplier) — Keras 3 names it so — then ``bias``
        (in_channels·depth_multiplier) when ``use_bias``."""
        out = [LayerWeight("kernel", self.depthwise_shape(shape), self.depthwise_initializer, True,
                           self.depthwise_regularizer)]
        if self.use_bias:
            out.append(LayerWeight("bias", (shape[-1] * self.depth_multiplier,), self.bias_initializer, True,
                                   self.bias_regularizer))
        return tuple(out)
