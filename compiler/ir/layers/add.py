"""Add(): y = x₁ + x₂ + … + xₙ (broadcast as Keras does); dxᵢ = dy summed over the axes xᵢ was broadcast along."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.merge import ElementwiseMerge


class Add(ElementwiseMerge):
    kind: Literal["Add"] = "Add"

    snake_name: ClassVar = "add"
    transparent: ClassVar = True  # a linear combination: auto-init and the lints look through it
