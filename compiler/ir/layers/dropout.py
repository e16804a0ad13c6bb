"""Dropout(rate): in training y = x·m/(1−rate), m ~ Bernoulli(1−rate) per element; identity at inference."""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated, ClassVar, Literal

from pydantic import Field

from compiler.ir.layers.base import LayerBase


class Dropout(LayerBase):
    kind: Literal["Dropout"] = "Dropout"
    rate: Annotated[float, Field(ge=0, lt=1)]

    positional: ClassVar = ("rate",)
    snake_name: ClassVar = "dropout"
    transparent: ClassVar = True
    random: ClassVar = True

    @property
    def draws_masks(self) -> bool:
        return self.rate > 0
