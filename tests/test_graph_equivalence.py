"""The generated graph matrix (tests/graph_matrix.py) on every backend: canonical mode, float64, 50 steps —
each step's loss, the first step's outputs and the final weights of torch and Keras within 1e-9 of NumPy's.

And the guard: the matrix holds every layer kind of ``LAYER_CLASSES`` inside a graph (a kind added to the
IR and not to the matrix fails here), every merge kind joining branches with a broadcast size-1 axis,
Concatenate along several axes, merges of three inputs, both UpSampling2D interpolations.
"""

from __future__ import annotations

import numpy as np
import pytest

from frameworks import need
from graph_cases import graph_data
from graph_matrix import SPECS

from compiler.ir.graph import Graph
from compiler.ir.layers import LAYER_CLASSES
from compiler.pipeline import compile_text
from tools.equiv import compare, relative_error, run_canonical, tolerance_for

STEPS = 50
SAMPLES = 24  # three batches of 8 an epoch
TOLERANCE = tolerance_for(np.float64)
ELEMENTWISE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")

_SPECS = {name: compile_text(text).spec for name, text in SPECS.items()}


def in_a_graph(graph: Graph, i: int) -> bool:
    """Layer i is no link of a plain chain: it merges, it takes a value other layers take too, or a merge
    takes its output (a residual body, a branch of a parallel, a value used again later)."""
    layer = graph.layers[i]
    source = graph.only_source(i)
    return (layer.is_merge or (source is not None and len(graph.consumers[source]) > 1)
            or any(graph.layers[c].is_merge for c in graph.consumers[i]))


def test_the_matrix_holds_every_layer_kind_inside_a_graph():
    inside: set[str] = set()
    every: set[str] = set()
    for spec in _SPECS.values():
        graph = Graph.of(spec.layers, spec.outputs)
        assert not graph.is_stack
        every |= {layer.kind for layer in spec.layers}
        inside |= {layer.kind for i, layer in enumerate(spec.layers) if in_a_graph(graph, i)}
    assert every == set(LAYER_CLASSES), f"missing from the matrix: {sorted(set(LAYER_CLASSES) - every)}"
    # a layer that takes nothing (the Input), and the ones only a stem or a head needs, may stay outside
    assert set(LAYER_CLASSES) - inside <= {"Input", "Rescaling", "Normalization", "Flatten",
                                           "GlobalAveragePooling2D"}, sorted(set(LAYER_CLASSES) - inside)


def test_every_merge_broadcasts_and_concatenate_joins_along_several_axes():
    broadcast, three, axes, interpolations = set(), set(), set(), set()
    for spec in _SPECS.values():
        for layer in spec.layers:
            if layer.kind == "UpSampling2D":
                interpolations.add(layer.interpolation)
            if not layer.is_merge:
                continue
            shapes = tuple(tuple(s) for s in layer.input_shapes)
            if len(set(shapes)) > 1 and layer.kind != "Concatenate":
                broadcast.add(layer.kind)
            if len(shapes) >= 3:
                three.add(layer.kind)
            if layer.kind == "Concatenate":
                axes.add((len(shapes[0]), layer.feature_axis(len(shapes[0]))))
    assert broadcast == set(ELEMENTWISE)
    assert three >= set(ELEMENTWISE) - {"Subtract"} | {"Concatenate"}
    assert axes >= {(3, 0), (3, 1), (3, 2), (1, 0)}  # an image's height, width and channels; a vector's one axis
    assert interpolations == {"nearest", "bilinear"}


@pytest.fixture(scope="module")
def references():
    """NumPy's 50 steps of each spec (computed once for both backends)."""
    out = {}
    for name, spec in _SPECS.items():
        x, y = graph_data(spec, SAMPLES, seed=3)
        out[name] = x, y, run_canonical("numpy", spec, x, y, steps=STEPS, dtype="float64")
    return out


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_matrix_trains_as_numpy_in_float64(name, backend, references):
    need(backend)
    if backend == "torch":
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # tiny tensors on a shared machine: see tests/test_torch_backend.py
    spec = _SPECS[name]
    x, y, reference = references[name]
    assert reference.stopped is None and len(reference.losses) == STEPS
    assert reference.losses[-1] < reference.losses[0]  # it learns: the gradients reach the weights
    try:
        trace = run_canonical(backend, spec, x, y, steps=STEPS, dtype="float64")
    finally:
        if backend == "torch":
            torch.set_num_threads(threads)
    d = compare(trace, reference, TOLERANCE)
    worst = max(d.weight_errors.values())
    assert d.step is None and d.layer is None, (
        f"parts at step {d.step}, layer {d.layer}: loss error {d.loss_error:.3g}, weight error {worst:.3g}")
    assert d.loss_error <= TOLERANCE and worst <= TOLERANCE
    assert set(trace.weights) == set(reference.weights)
    assert relative_error(trace.first_outputs, reference.first_outputs) <= TOLERANCE
