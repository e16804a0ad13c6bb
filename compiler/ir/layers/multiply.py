"""Multiply(): y = x₁ · x₂ · … · xₙ elementwise; dxᵢ = dy · Πⱼ≠ᵢ xⱼ (summed over its broadcast axes)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.merge import ElementwiseMerge


class Multiply(ElementwiseMerge):
    kind: Literal["Multiply"] = "Multiply"

    snake_name: ClassVar = "multiply"
