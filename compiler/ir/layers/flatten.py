"""Flatten: (h, w, c) → (h·w·c,) in NHWC (row-major, channels fastest) order in every backend."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.base import LayerBase


class Flatten(LayerBase):
    kind: Literal["Flatten"] = "Flatten"

    snake_name: ClassVar = "flatten"
    transparent: ClassVar = True
    adapts_through: ClassVar = True

    def infer_shape(self, shape):
        n = 1
        for d in shape:
            n *= d
        return (n,)
