"""AveragePooling2D: y = mean over each window; with ``same`` the mean counts only real pixels (as TF)."""

from __future__ import annotations

from typing import ClassVar, Literal

from compiler.layers.pooling import Pooling2D


class AveragePooling2D(Pooling2D):
    kind: Literal["AveragePooling2D"] = "AveragePooling2D"
    padding: Literal["valid", "same"] = "valid"

    snake_name: ClassVar = "average_pooling2d"
