"""Rescaling(scale, offset=0): y = x·scale + offset."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.base import LayerBase


class Rescaling(LayerBase):
    kind: Literal["Rescaling"] = "Rescaling"
    scale: float
    offset: float = 0.0

    positional: ClassVar = ("scale", "offset")
    snake_name: ClassVar = "rescaling"
    scales_inputs: ClassVar = True
    adapts_through: ClassVar = True
