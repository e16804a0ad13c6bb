"""Maximum(): y = max(x₁, …, xₙ) elementwise, folded left to right as Keras does (max(max(x₁, x₂), x₃)); the gradient goes to the input that was taken (on a tie, to the earlier one at each fold: see the NumPy file)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.layers.merge import ElementwiseMerge


class Maximum(ElementwiseMerge):
    kind: Literal["Maximum"] = "Maximum"

    snake_name: ClassVar = "maximum"
