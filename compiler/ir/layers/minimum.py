"""Minimum(): y = min(x₁, …, xₙ) elementwise, folded left to right as Keras does; the gradient goes to the input that was taken (on a tie, to the earlier one at each fold: see the NumPy file)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.merge import ElementwiseMerge


class Minimum(ElementwiseMerge):
    kind: Literal["Minimum"] = "Minimum"

    snake_name: ClassVar = "minimum"
