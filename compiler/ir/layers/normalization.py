"""Normalization(axis=-1): y = (x − mean)/max(√variance, 1e-7); mean and variance adapted to the training data.

Keras 3.15's ``keras.layers.Normalization`` (keras/src/layers/preprocessing/normalization.py), pinned:

- ``axis`` counts the batch axis as 0, as Keras does: the axes *kept* — each index along them has its own
  mean and variance. -1 (the default) is the last axis: per feature of a (batch, features) input, per
  channel of an image. A list keeps several axes; ``none`` keeps none (one mean and variance for all values).
  The batch axis cannot be kept.
- adapting (``mean`` and ``variance`` not given): before training, every backend computes, in float64, the
  mean and the *population* variance (÷ n, as ``np.var``) of the training split — never the validation
  split — over every axis not kept, batch included, on the data as it reaches the layer (so it must come
  before any layer with weights or randomness: right after Input, Rescaling, Flatten, pooling, an
  Activation or another Normalization). They are stored as the non-trainable weights ``mean`` and
  ``variance`` (shape: the kept axes' sizes) and ``count``, the number of values each statistic was
  computed from (Keras keeps a ``count`` weight too, for its parameter count 2·∏kept + 1). A layer whose
  ``count`` is above 0 is adapted already (a checkpoint, loaded weights) and is not adapted again.
- ``mean`` and ``variance`` given (both or neither, each a number or a list along the last kept axis,
  as Keras broadcasts them): no weights, no adapting, 0 parameters.
- the formula: y = (x − mean)/max(√variance, ε) with ε = 1e-7 (Keras' backend epsilon); ``invert``:
  y = mean + x·max(√variance, ε). Nothing in it is trainable; the gradient is dy/max(√variance, ε).
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from compiler.ir.layers.base import LayerBase, ShapeError, shape_tuple
from compiler.ir.layers.weight import LayerWeight, constant

EPSILON = 1e-7  # keras.config.epsilon(): the floor of √variance


class Normalization(LayerBase):
    kind: Literal["Normalization"] = "Normalization"
    axis: int | tuple[int, ...] | None = -1
    mean: float | tuple[float, ...] | None = None
    variance: float | tuple[float, ...] | None = Field(None, validate_default=True)  # checked against mean
    invert: bool = False

    positional: ClassVar = ("axis", "mean", "variance", "invert")
    snake_name: ClassVar = "normalization"
    transparent: ClassVar = True
    scales_inputs: ClassVar = True
    adapts_through: ClassVar = True

    @field_validator("variance", mode="after")
    @classmethod
    def _variance_is_given_with_mean(cls, variance, info: ValidationInfo):
        mean = info.data.get("mean")
        if variance is None:
            if mean is not None:
                raise ValueError("mean is given without variance; give both (or neither, to adapt them to the "
                                 "training data)")
            return variance
        if mean is None and "mean" in info.data:
            raise ValueError("variance is given without mean; give both (or neither, to adapt them to the "
                             "training data)")
        values = variance if isinstance(variance, tuple) else (variance,)
        if any(v < 0 for v in values):
            raise ValueError(f"a variance cannot be negative, received {min(values):g}")
        if mean is not None and _count(mean) != _count(variance):
            raise ValueError(f"mean has {_count(mean)} value(s) and variance {_count(variance)}; give as many of each")
        return variance

    @property
    def adapts(self) -> bool:
        """True when the mean and variance are learnt from the training data (not given)."""
        return self.mean is None

    def kept_axes(self, shape) -> tuple[int, ...]:
        """The kept axes of an input of per-sample ``shape``, counted with the batch axis as 0, sorted."""
        ndim = len(shape) + 1
        axes = () if self.axis is None else (self.axis,) if isinstance(self.axis, int) else self.axis
        return tuple(sorted(a % ndim for a in axes))

    def reduced_axes(self, shape) -> tuple[int, ...]:
        """The axes the statistics are taken over (batch axis included), for a per-sample ``shape``."""
        kept = self.kept_axes(shape)
        return tuple(d for d in range(len(shape) + 1) if d not in kept)

    def statistics_shape(self, shape) -> tuple[int, ...]:
        """The shape of ``mean`` and ``variance`` as weights: the kept axes' sizes (Keras' layout)."""
        return tuple(shape[d - 1] for d in self.kept_axes(shape))

    def broadcast_shape(self, shape) -> tuple[int, ...]:
        """The statistics reshaped to broadcast against a batch: 1 on reduced axes (batch included)."""
        kept = self.kept_axes(shape)
        return (1, *(size if d + 1 in kept else 1 for d, size in enumerate(shape)))

    def given_shape(self, shape) -> tuple[int, ...]:
        """The shape that given ``mean``/``variance`` values take before broadcasting, as Keras maps them:
        () for one number, else the list along the last kept axis."""
        if not isinstance(self.mean, tuple):
            return ()
        out = [1] * (len(shape) + 1)
        out[self.kept_axes(shape)[-1]] = len(self.mean)
        return tuple(out)

    def infer_shape(self, shape):
        ndim = len(shape) + 1
        axes = () if self.axis is None else (self.axis,) if isinstance(self.axis, int) else self.axis
        for a in axes:
            if not -ndim <= a < ndim:
                raise ShapeError(f"Normalization: axis {a} is outside the input {shape_tuple(shape)}, whose axes are "
                                 f"{-ndim} .. {ndim - 1} (0 is the batch axis, as in Keras)")
            if a % ndim == 0:
                raise ShapeError("Normalization: axis 0 is the batch axis, whose size is not known; keep the "
                                 "feature axes (-1, the default, is the last one)")
        if len({a % ndim for a in axes}) != len(axes):
            raise ShapeError(f"Normalization: axis {list(axes)} names the same axis twice")
        if isinstance(self.mean, tuple):
            kept = self.kept_axes(shape)
            if not kept:
                raise ShapeError("Normalization: with axis=none there is one mean and one variance; give single "
                                 "numbers, not lists")
            size = shape[kept[-1] - 1]
            if len(self.mean) not in (1, size):
                raise ShapeError(f"Normalization: mean and variance hold {len(self.mean)} values, but the kept "
                                 f"axis {kept[-1]} of the input {shape_tuple(shape)} has {size}; give 1 or {size}")
        return shape

    def weights(self, shape):
        """When adapting: ``mean`` (zeros) and ``variance`` (ones) of the kept axes' sizes, and ``count`` (a
        scalar, 0 until adapted), none trainable (2·∏kept + 1 parameters, as Keras counts them); else none."""
        if not self.adapts:
            return ()
        stats = self.statistics_shape(shape)
        return (LayerWeight("mean", stats, constant(0.0), False), LayerWeight("variance", stats, constant(1.0), False),
                LayerWeight("count", (), constant(0.0), False))


def _count(values) -> int:
    return len(values) if isinstance(values, tuple) else 1
