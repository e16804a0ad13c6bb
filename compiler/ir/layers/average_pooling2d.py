"""AveragePooling2D: y = mean over each window; with ``same`` the mean counts only real pixels (as TF)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.pooling import Pooling2D


class AveragePooling2D(Pooling2D):
    kind: Literal["AveragePooling2D"] = "AveragePooling2D"
    padding: Literal["valid", "same"] = "valid"

    snake_name: ClassVar = "average_pooling2d"
