"""The model as a graph: which layer feeds which, read from each layer's ``inputs``.

``Spec.layers`` lists the layers in an order where each comes after its inputs (a topological order, the
order of the source), so one pass over the list in order runs the model forward and one in reverse runs it
backward. ``Graph`` answers the questions the passes and backends ask about that order in constant time:
a layer's inputs and consumers by index, the model's inputs and outputs.

A list of layers whose ``inputs`` are all empty is read as a stack (each layer takes the one before it):
what a pass sees before the compiler has wired the layers, and what old tests and tools build by hand.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Graph:
    """``sources[i]``: the indices of layer i's inputs, in order; ``consumers[i]``: the layers taking layer
    i's output, in order; ``outputs``: the indices of the model's outputs, in order."""

    layers: tuple
    index: dict[str, int]
    sources: tuple[tuple[int, ...], ...]
    consumers: tuple[tuple[int, ...], ...]
    outputs: tuple[int, ...]

    @classmethod
    def of(cls, layers, outputs: tuple[str, ...] | None = None) -> "Graph":
        """The graph of ``layers`` (wired, or a stack when no layer names an input); ``outputs`` names the
        model's outputs (default: every layer nobody consumes, in order — the last layer of a stack).
        Raises ``KeyError`` for an input or output that names no layer (the compiler reports those first)."""
        layers = tuple(layers)
        index = {layer.name: i for i, layer in enumerate(layers)}
        wired = any(layer.inputs for layer in layers)
        if wired:
            sources = tuple(tuple(index[name] for name in layer.inputs) for layer in layers)
        else:
            sources = tuple(() if i == 0 or layer.is_input else (i - 1,) for i, layer in enumerate(layers))
        consumers: list[list[int]] = [[] for _ in layers]
        for i, srcs in enumerate(sources):
            for s in (srcs if len(srcs) < 2 else dict.fromkeys(srcs)):  # each consumer once, in O(inputs)
                consumers[s].append(i)
        if outputs:
            out = tuple(index[name] for name in outputs)
        else:
            out = tuple(i for i, c in enumerate(consumers) if not c)
        return cls(layers, index, sources, tuple(map(tuple, consumers)), out)

    @property
    def inputs(self) -> tuple[int, ...]:
        """The indices of the model's Input layers, in order."""
        return tuple(i for i, layer in enumerate(self.layers) if layer.is_input)

    def only_source(self, i: int) -> int | None:
        """The one layer whose output layer i takes (None for an Input or a merge)."""
        srcs = self.sources[i]
        return srcs[0] if len(srcs) == 1 else None

    def only_consumer(self, i: int) -> int | None:
        """The one layer that takes layer i's output, when exactly one does and it is not a model output
        (a value that leaves the model, or feeds two layers, is not "followed" by any one layer)."""
        c = self.consumers[i]
        return c[0] if len(c) == 1 and i not in self.outputs else None

    @property
    def is_stack(self) -> bool:
        """True when every layer takes the one before it and the last is the one output."""
        return (self.outputs == (len(self.layers) - 1,)
                and all(srcs == ((i - 1,) if i else ()) for i, srcs in enumerate(self.sources)))


def wire_in_sequence(layers: list) -> list:
    """``layers`` with every unwired layer but an Input taking the layer before it (a stack)."""
    out = []
    for i, layer in enumerate(layers):
        if i and not layer.inputs and not layer.is_input:
            layer = layer.model_copy(update={"inputs": (out[-1].name,)})
        out.append(layer)
    return out
