"""Subtract(): y = x₁ − x₂ (exactly two inputs); dx₁ = dy, dx₂ = −dy (each summed over its broadcast axes)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.merge import ElementwiseMerge


class Subtract(ElementwiseMerge):
    kind: Literal["Subtract"] = "Subtract"

    snake_name: ClassVar = "subtract"
    max_inputs: ClassVar = 2
    transparent: ClassVar = True  # a linear combination: auto-init and the lints look through it
