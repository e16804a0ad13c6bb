"""Conv2DTranspose(filters, kernel_size): y = activation(Conv2Dᵀ(x) + b), the adjoint of a Conv2D (Keras 3).

As Keras 3 on TensorFlow (``tf.nn.conv_transpose``): the input gradient of a Conv2D, spread back.

With W of shape (kh, kw, filters, in_channels) (Keras' layout: the kernel of the Conv2D it is the adjoint
of, from ``filters`` channels to ``in_channels``), H×W output as ``transposed_output_size`` gives it and
(top, left) the padding TensorFlow's Conv2D would put in front of that output (0 for ``valid``; for
``same``, the asymmetric amounts of ``geometry.same_padding``, the extra pixel at the end):

y[n, p, q, f] = activation(b[f] + Σ_{i,j,di,dj,c : i·s_h + di·d_h − top = p, j·s_w + dj·d_w − left = q}
                                   x[n, i, j, c] · W[di, dj, f, c])

Output size per axis (Keras' ``deconv_output_length``), k = (kernel − 1)·dilation + 1: ``valid``:
(in − 1)·stride + k + output_padding (output_padding defaults to max(k, stride) − k); ``same``: in·stride,
or (in − 1)·stride + k mod 2 + output_padding when output_padding is given. ``output_padding`` must be
below the stride; strides > 1 and dilation_rate > 1 do not combine (Keras' rules). Where TensorFlow's Conv2D
of the output size would not give back the input size (``same`` with an even kernel and output_padding 0),
TensorFlow refuses the layer, and so does nnspec. PyTorch's ConvTranspose2d crops symmetrically
(``padding``) and adds ``output_padding`` at the end: the torch backend arranges them to give TensorFlow's
crop. Keras' ``compute_fans`` on the kernel: fan_in = kh·kw·filters, fan_out = kh·kw·in_channels.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from compiler.ir.layers.base import ShapeError, require_rank
from compiler.ir.layers.geometry import transposed_output_size, window_output_size
from compiler.ir.layers.weighted import WeightedLayer

Pair = tuple[Annotated[int, Field(gt=0)], Annotated[int, Field(gt=0)]]
Padding = tuple[Annotated[int, Field(ge=0)], Annotated[int, Field(ge=0)]]


class Conv2DTranspose(WeightedLayer):
    kind: Literal["Conv2DTranspose"] = "Conv2DTranspose"
    filters: Annotated[int, Field(gt=0)]
    kernel_size: Pair
    strides: Pair = (1, 1)
    padding: Literal["valid", "same"] = "valid"
    output_padding: Padding | None = Field(None, validate_default=True)  # checked against strides
    dilation_rate: Pair = (1, 1)

    positional: ClassVar = ("filters", "kernel_size", "strides", "padding")
    snake_name: ClassVar = "conv2d_transpose"

    @field_validator("output_padding", mode="after")
    @classmethod
    def _below_the_stride(cls, output_padding, info: ValidationInfo):
        strides = info.data.get("strides")
        if output_padding is not None and strides is not None:
            for axis, (op, s) in enumerate(zip(output_padding, strides)):
                if op >= s:
                    raise ValueError(f"output_padding must be below strides on each axis (as in Keras); along "
                                     f"{('height', 'width')[axis]} it is {op} with strides {s}")
        return output_padding

    def output_paddings(self) -> tuple[int | None, int | None]:
        return (None, None) if self.output_padding is None else tuple(self.output_padding)

    def infer_shape(self, shape):
        require_rank("Conv2DTranspose", shape, 3)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ShapeError("Conv2DTranspose cannot combine strides > 1 with dilation_rate > 1 (as in Keras)")
        out = []
        for axis, size in enumerate(shape[:2]):
            k, s, d = self.kernel_size[axis], self.strides[axis], self.dilation_rate[axis]
            n = transposed_output_size(size, k, s, self.padding, self.output_paddings()[axis], d)
            if window_output_size(n, k, s, self.padding, d) != size:
                raise ShapeError(f"Conv2DTranspose: along {('height', 'width')[axis]} the output would have {n} "
                                 f"pixels, and a Conv2D over {n} pixels with the same kernel, strides and padding "
                                 f"gives {window_output_size(n, k, s, self.padding, d)}, not the input's {size}: "
                                 f"TensorFlow refuses this transposed convolution (padding=same with an even "
                                 f"kernel needs output_padding ≥ 1, or leave output_padding out)")
            out.append(n)
        return (out[0], out[1], self.filters)

    def weight_shapes(self, shape):
        return (*self.kernel_size, self.filters, shape[-1]), (self.filters,)
