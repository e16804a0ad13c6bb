"""LayerNormalization(axis=-1): y = γ·(x − μ)/√(σ² + ε) + β, μ, σ² per sample over ``axis`` (Keras 3).

μ = mean of x over the axes ``axis``, σ² = the biased variance over them (per sample, never over the batch);
y = γ·(x − μ)/√(σ² + ε) + β, the same in training and inference (no moving statistics).

Keras 3.15's ``keras.layers.LayerNormalization`` (keras/src/layers/normalization/layer_normalization.py and
``ops.layer_normalization``), pinned:

- ``axis`` counts the batch axis as 0 (it cannot be normalized over): an int or a list; -1, the default, is
  the last axis (the features of a vector, the channels of an image); ``[1, 2, 3]`` normalizes a whole image.
- γ and β (``gamma`` ones, ``beta`` zeros, Keras' defaults) have the sizes of the normalized axes, in the order
  of ``sorted(axis)`` as Keras sorts the values given (so ``[-1, 1]`` gives (channels, height)); they are
  reshaped (not transposed) to broadcast against the input, as Keras does.
- ε 1e-3 (Keras' default; PyTorch's LayerNorm uses 1e-5). ``rms_scaling`` is not offered: Keras 3.15
  deprecates it (it scaled by the variance, not the root mean square).
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.base import ShapeError, shape_tuple
from compiler.ir.layers.scale_shift import ScaleShiftLayer


class LayerNormalization(ScaleShiftLayer):
    kind: Literal["LayerNormalization"] = "LayerNormalization"
    axis: int | tuple[int, ...] = -1

    positional: ClassVar = ("axis",)
    snake_name: ClassVar = "layer_normalization"

    def keras_order(self) -> tuple[int, ...]:
        """The axes as Keras orders them: ``sorted`` of the values given (negative ones first)."""
        return tuple(sorted((self.axis,) if isinstance(self.axis, int) else self.axis))

    def normalized_axes(self, shape) -> tuple[int, ...]:
        """The axes the statistics are taken over, counted with the batch axis as 0, ascending."""
        ndim = len(shape) + 1
        return tuple(sorted(a % ndim for a in self.keras_order()))

    def broadcast_shape(self, shape) -> tuple[int, ...]:
        """γ and β reshaped to broadcast against a batch: the normalized axes' sizes, 1 elsewhere."""
        out = [1] * (len(shape) + 1)
        for a in self.normalized_axes(shape):
            out[a] = shape[a - 1]
        return tuple(out)

    def infer_shape(self, shape):
        ndim = len(shape) + 1
        axes = self.keras_order()
        if not axes:
            raise ShapeError("LayerNormalization: axis is an empty list; name the axes to normalize over "
                             "(-1, the default, is the last one)")
        for a in axes:
            if not -ndim <= a < ndim:
                raise ShapeError(f"LayerNormalization: axis {a} is outside the input {shape_tuple(shape)}, whose "
                                 f"axes are {-ndim} .. {ndim - 1} (0 is the batch axis, as in Keras)")
            if a % ndim == 0:
                raise ShapeError("LayerNormalization: axis 0 is the batch axis; a sample is normalized over its "
                                 "own axes (-1, the default, is the last one)")
        if len({a % ndim for a in axes}) != len(axes):
            raise ShapeError(f"LayerNormalization: axis {list(axes)} names the same axis twice")
        return shape

    @property
    def cancels_bias(self) -> bool:
        """With ``center``, when the channels (the last axis) are not normalized over: each channel's mean,
        and with it a per-channel bias before the layer, is subtracted (e.g. ``axis=[1, 2]`` of an image)."""
        shape = self.input_shape
        return self.center and shape is not None and len(shape) not in self.normalized_axes(shape)

    def weights(self, shape):
        """``gamma`` (if scale) and ``beta`` (if center): the sizes of the normalized axes in Keras' order."""
        ndim = len(shape) + 1
        return self.scale_shift_weights(tuple(shape[a % ndim - 1] for a in self.keras_order()))
