"""GlobalMaxPooling2D: y[n,c] = max over (h, w) of x[n,h,w,c] (``keepdims``: shape (1, 1, c)).

Gradient as TensorFlow's (and torch's ``amax``): dy[n,c] shared equally by the pixels that equal the
maximum, dx[n,h,w,c] = dy[n,c]·[x[n,h,w,c] = y[n,c]] / #{(h', w') : x[n,h',w',c] = y[n,c]}.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.base import LayerBase, require_rank


class GlobalMaxPooling2D(LayerBase):
    kind: Literal["GlobalMaxPooling2D"] = "GlobalMaxPooling2D"
    keepdims: bool = False

    snake_name: ClassVar = "global_max_pooling2d"
    transparent: ClassVar = True
    adapts_through: ClassVar = True
    passes_channel_offsets: ClassVar = True

    def infer_shape(self, shape):
        require_rank("GlobalMaxPooling2D", shape, 3)
        return (1, 1, shape[2]) if self.keepdims else (shape[2],)
