"""Rules on the model as a whole, shared by the compiler and the IR check (``compiler.passes.verify``)."""

from __future__ import annotations

from compiler.ir.layers import LayerBase


def layout_problems(layers: list[LayerBase] | tuple[LayerBase, ...], model: str) -> list[tuple[int | None, str]]:
    """What is wrong with the order of ``layers`` (the model's, after expansion), as (index of the layer
    to point at, or None for the model; message): one Input, first, and at least one layer after it."""
    problems: list[tuple[int | None, str]] = []
    if not layers or not layers[0].is_input:
        problems.append((0 if layers else None, f"model '{model}' must start with Input(shape=[...])"))
    problems += [(i, "Input may only be the first layer of the model (a model has one input)")
                 for i, layer in enumerate(layers) if i > 0 and layer.is_input]
    if len(layers) == 1 and not problems:
        problems.append((None, f"model '{model}' has only its Input; add layers"))
    return problems
