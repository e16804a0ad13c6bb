"""MaxPooling2D: y = max over each window; ``same`` padding pads with −∞ (TensorFlow's, asymmetric)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.pooling import Pooling2D


class MaxPooling2D(Pooling2D):
    kind: Literal["MaxPooling2D"] = "MaxPooling2D"
    padding: Literal["valid", "same"] = "valid"

    snake_name: ClassVar = "max_pooling2d"
