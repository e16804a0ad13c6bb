"""Average(): y = (x₁ + … + xₙ) / n; dxᵢ = dy / n (summed over its broadcast axes)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.merge import ElementwiseMerge


class Average(ElementwiseMerge):
    kind: Literal["Average"] = "Average"

    snake_name: ClassVar = "average"
    transparent: ClassVar = True  # a linear combination: auto-init and the lints look through it
