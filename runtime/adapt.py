"""Adapting: before training, each Normalization layer that learns its statistics gets the mean and the
population variance of the training data as it reaches the layer (Keras' ``Normalization.adapt``).

One function for every backend and command (``make_trainer(..., adapt_on=x_train)``): the statistics are
computed here, in float64, by running the layers before the Normalization (weightless and the same in
training and inference: the kinds that ``adapts_through``, see ``compiler.ir.layers.base``; in a graph, the
chain of single inputs back to its Input, whose array it takes when there are several) through the NumPy
reference, and handed to the trainer with ``set_weights``. A layer whose ``count`` is above 0 (a checkpoint being
resumed, weights loaded from a run) is adapted already and keeps its statistics.

The moments are taken in two passes over chunks of ``CHUNK`` samples (Σx, then Σ(x − μ)²), so the data as
it reaches the layer is never held twice in float64.
"""

from __future__ import annotations

import numpy as np

from backends.numpy import layers as numpy_layers
from backends.numpy.layers import Context
from compiler.ir.graph import Graph
from compiler.ir.spec import Spec

CHUNK = 4096


def is_adapted(weights: dict[str, np.ndarray], layer) -> bool:
    """True when ``layer`` needs no adapting: its statistics are given, or its ``count`` is above 0."""
    count = weights.get(f"{layer.name}/count")
    return not layer.adapts or (count is not None and float(np.asarray(count)) > 0)


def adapted_statistics(spec: Spec, weights: dict[str, np.ndarray], x: np.ndarray) -> dict[str, np.ndarray]:
    """``{"layer/mean", "layer/variance", "layer/count"}`` (float64) of every Normalization of ``spec`` that is
    not adapted yet in ``weights``, learnt from ``x`` (the training split); empty when there is none.

    mean and variance are over the layer's reduced axes (batch included) of the data reaching it, in
    Keras' layout (the kept axes' sizes); count is the number of values each statistic summarises.
    """
    layers = list(spec.layers)
    pending = [i for i, layer in enumerate(layers) if layer.adapts and not is_adapted(weights, layer)]
    if not pending:
        return {}
    graph = Graph.of(layers, spec.output_names)
    known = {k: np.asarray(v, dtype=np.float64) for k, v in weights.items()}
    out: dict[str, np.ndarray] = {}
    for i in pending:
        layer = layers[i]
        reduce = layer.reduced_axes(layer.input_shape)
        source, before = _path(graph, layers, i)
        data = x[layers[source].name] if hasattr(x, "keys") else x  # several inputs: its Input's array

        def reaching(before=before, data=data):
            for start in range(0, len(data), CHUNK):
                yield _through(before, np.asarray(data[start:start + CHUNK], dtype=np.float64), known)

        total, count = None, 0
        for h in reaching():
            part = h.sum(axis=reduce, keepdims=True)
            total = part if total is None else total + part
            count += h.size // part.size
        mean = total / count
        squares = None
        for h in reaching():
            part = np.square(h - mean).sum(axis=reduce, keepdims=True)
            squares = part if squares is None else squares + part
        shape = layer.statistics_shape(layer.input_shape)
        found = {f"{layer.name}/mean": mean.reshape(shape), f"{layer.name}/variance": (squares / count).reshape(shape),
                 f"{layer.name}/count": np.asarray(float(count))}
        out.update(found)
        known.update(found)
    return out


def _path(graph: Graph, layers: list, i: int) -> tuple[int, list]:
    """(the index of the Input whose data reaches layer ``i``, the layers between them in order): the chain of
    single inputs back from ``i`` (the adapting rule, ``compiler.passes.adapting``, allows only such a chain
    of layers that ``adapts_through`` before a Normalization that adapts)."""
    chain = []
    j = graph.only_source(i)
    while j is not None and not layers[j].is_input:
        chain.append(layers[j])
        j = graph.only_source(j)
    return (j if j is not None else 0), chain[::-1]


def _through(layers: list, h: np.ndarray, known: dict[str, np.ndarray]) -> np.ndarray:
    """``h`` through ``layers`` in inference mode (the reference's formulas, float64)."""
    ctx = Context(training=False)
    for layer in layers:
        state = {k.split("/", 1)[1]: v for k, v in known.items() if k.split("/", 1)[0] == layer.name}
        h, _ = numpy_layers.LAYERS[layer.kind](layer, {}, state, h, ctx)
    return h


def adapt_trainer(trainer, spec: Spec, x: np.ndarray) -> None:
    """Adapt ``trainer``'s Normalization layers that need it on ``x`` (see ``adapted_statistics``)."""
    weights = trainer.get_weights()
    found = adapted_statistics(spec, weights, x)
    if found:
        trainer.set_weights({k: np.asarray(v).astype(np.asarray(weights[k]).dtype) for k, v in found.items()})
