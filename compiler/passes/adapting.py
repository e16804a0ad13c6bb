"""Layers that adapt to the training data (Normalization without given statistics) must see data that is
known before training: only layers whose kind ``adapts_through`` (no weights, no randomness, the same in
training and inference: ``compiler.ir.layers.base.LayerBase``) may come before them, in a chain of single
inputs back to one Input (``runtime.adapt`` runs that chain on the Input's data; a merge joins several
values, which it does not run). Anything else would change what reaches the layer after it has been adapted.

One rule for the compiler (``compile_module``) and for IR files (``compiler.passes.verify``)."""

from __future__ import annotations

from compiler.ir.graph import Graph
from compiler.ir.layers import LayerBase

HINT = "put it right after Input (or Rescaling), or give mean=... and variance=..."


def adapting_problems(layers: list[LayerBase] | tuple[LayerBase, ...]) -> list[tuple[int, str]]:
    """(index, message) for every adapting layer (a Normalization) that a layer with weights or randomness
    feeds, directly or through other layers (in a graph: along any path from an Input)."""
    graph = Graph.of(layers)
    blockers: list[LayerBase | None] = []  # the first layer upstream of each layer that adaptation cannot pass
    problems = []
    for i, layer in enumerate(layers):
        blocker = next((b for b in (blockers[s] for s in graph.sources[i]) if b is not None), None)
        if layer.adapts and blocker is not None:
            what = "a merge of several values" if blocker.is_merge else "any layer with weights or randomness"
            problems.append((i, f"Normalization '{layer.name}' learns its mean and variance from the data as it "
                                f"reaches it, so it must come before {what}; "
                                f"'{blocker.name}' ({blocker.kind}) comes first"))
        passes = layer.adapts_through and not layer.is_merge
        blockers.append(blocker if blocker is not None or passes else layer)
    return problems
