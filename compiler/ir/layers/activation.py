"""Activation(fn): y = fn(x), any activation of the language (see ``ActivationFn``)."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import ClassVar, Literal

from compiler.ir.values import ActivationFn
from compiler.ir.layers.base import LayerBase


class Activation(LayerBase):
    kind: Literal["Activation"] = "Activation"
    activation: ActivationFn

    positional: ClassVar = ("activation",)
    snake_name: ClassVar = "activation"
    is_activation: ClassVar = True
    adapts_through: ClassVar = True
