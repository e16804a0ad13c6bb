"""GroupNormalization(groups=32): y = γ·(x − μ)/√(σ² + ε) + β, μ, σ² per sample and channel group (Keras).

The channel axis ``axis`` (C channels) is split into G = ``groups`` groups of C/G consecutive channels;
for each sample and group, μ and σ² (biased) are taken over the group's channels and every other
non-batch axis (the height and width of an image); y = γ·(x − μ)/√(σ² + ε) + β, with γ and β one value
per channel (not per group). The same in training and inference.

Keras 3.15's ``keras.layers.GroupNormalization`` (keras/src/layers/normalization/group_normalization.py),
pinned: ``groups`` 32 by default, -1 for one group per channel (instance normalization); G must divide C
and not exceed it. ``axis`` is one axis, counted with the batch axis as 0 (-1, the default: the channels).
ε 1e-3 (PyTorch's GroupNorm uses 1e-5 and works on channels-first data). G = 1 is a LayerNormalization
over every non-batch axis with γ and β per channel.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from pydantic import field_validator

from compiler.ir.layers.base import ShapeError, shape_tuple
from compiler.ir.layers.scale_shift import ScaleShiftLayer


class GroupNormalization(ScaleShiftLayer):
    kind: Literal["GroupNormalization"] = "GroupNormalization"
    groups: int = 32
    axis: int = -1

    positional: ClassVar = ("groups",)
    snake_name: ClassVar = "group_normalization"

    @field_validator("groups")
    @classmethod
    def _positive_or_minus_one(cls, groups):
        if groups <= 0 and groups != -1:
            raise ValueError(f"groups is a positive number of groups, or -1 for one group per channel (instance "
                             f"normalization), received {groups}")
        return groups

    def channel_axis(self, shape) -> int:
        """The grouped axis, counted with the batch axis as 0."""
        return self.axis % (len(shape) + 1)

    def group_count(self, shape) -> int:
        """G: ``groups``, or the number of channels for -1."""
        channels = shape[self.channel_axis(shape) - 1]
        return channels if self.groups == -1 else self.groups

    def infer_shape(self, shape):
        ndim = len(shape) + 1
        if not -ndim <= self.axis < ndim:
            raise ShapeError(f"GroupNormalization: axis {self.axis} is outside the input {shape_tuple(shape)}, "
                             f"whose axes are {-ndim} .. {ndim - 1} (0 is the batch axis, as in Keras)")
        if self.axis % ndim == 0:
            raise ShapeError("GroupNormalization: axis 0 is the batch axis; give the channel axis (-1, the "
                             "default, is the last one)")
        channels, groups = shape[self.axis % ndim - 1], self.group_count(shape)
        if groups > channels:
            raise ShapeError(f"GroupNormalization: groups={groups} is more than the {channels} channels of the input "
                             f"{shape_tuple(shape)} (axis {self.axis}); give a divisor of {channels}")
        if channels % groups:
            raise ShapeError(f"GroupNormalization: groups={groups} does not divide the {channels} channels of the "
                             f"input {shape_tuple(shape)} (axis {self.axis}); give a divisor of {channels}")
        return shape

    @property
    def cancels_bias(self) -> bool:
        """With ``center``, when every group is one channel of the last axis (instance normalization): each
        channel's mean, and with it a per-channel bias before the layer, is subtracted."""
        shape = self.input_shape
        return (self.center and shape is not None and self.channel_axis(shape) == len(shape)
                and self.group_count(shape) == shape[-1])

    def weights(self, shape):
        """``gamma`` (if scale) and ``beta`` (if center): one value per channel."""
        return self.scale_shift_weights((shape[self.channel_axis(shape) - 1],))
