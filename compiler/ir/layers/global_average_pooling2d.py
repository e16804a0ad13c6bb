"""GlobalAveragePooling2D: y[n,c] = mean over (h, w) of x[n,h,w,c]."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.base import LayerBase, require_rank


class GlobalAveragePooling2D(LayerBase):
    kind: Literal["GlobalAveragePooling2D"] = "GlobalAveragePooling2D"
    keepdims: bool = False

    snake_name: ClassVar = "global_average_pooling2d"
    transparent: ClassVar = True
    adapts_through: ClassVar = True
    passes_channel_offsets: ClassVar = True

    def infer_shape(self, shape):
        require_rank("GlobalAveragePooling2D", shape, 3)
        return (1, 1, shape[2]) if self.keepdims else (shape[2],)
