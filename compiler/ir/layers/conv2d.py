"""Conv2D(filters, kernel_size): 2-D cross-correlation over NHWC input, as Keras' Conv2D.

y[n,i,j,f] = activation(b[f] + Σ_{di,dj,c} x_pad[n, i·s_h + di·d_h, j·s_w + dj·d_w, c] · W[di,dj,c,f])
with W of shape (kh, kw, in_channels, filters) and TensorFlow's asymmetric ``same`` padding.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.layers.base import ShapeError, require_rank
from compiler.ir.layers.geometry import conv_output_hw
from compiler.ir.layers.weighted import WeightedLayer

Pair = tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]


class Conv2D(WeightedLayer):
    kind: Literal["Conv2D"] = "Conv2D"
    filters: Annotated[int, Field(gt=0)]
    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Literal["valid", "same"] = "valid"
    dilation_rate: Pair = (1, 1)

    positional: ClassVar = ("filters", "kernel_size", "strides", "padding")
    snake_name: ClassVar = "conv2d"

    def infer_shape(self, shape):
        require_rank("Conv2D", shape, 3)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ShapeError("Conv2D cannot combine strides > 1 with dilation_rate > 1 (as in Keras)")
        height, width = conv_output_hw("Conv2D", shape, self.kernel_size, self.strides, self.padding,
                                       self.dilation_rate)
        return (height, width, self.filters)

    def weight_shapes(self, shape):
        return (*self.kernel_size, shape[-1], self.filters), (self.filters,)
