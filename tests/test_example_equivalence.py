"""Every example spec that is a graph (specs/resnet20, unet, two_tasks, and any graph added there) and the
MobileNet (``example_specs.SHRUNK``) on every backend: canonical mode, float64, 50 steps on the spec's own data
shrunk to 8 samples in batches of 2 — each step's loss (each output's too), the first step's outputs and the
final weights of torch and Keras within 1e-9 of NumPy's.

The shrinking keeps the models whole (ResNet-20's 20 layers, the U-Net's per-pixel loss over 32×32 images) and
the run short: 50 float64 steps of ResNet-20 at its own batch of 128 take many minutes in NumPy. The other
examples run at their own batch size in tests/test_torch_backend.py and tests/test_keras_backend.py, which
leave these to this file.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from example_specs import SHRUNK
from frameworks import need

from compiler.pipeline import compile_file
from runtime.data import load_dataset
from tools.equiv import compare, relative_error, run_canonical, tolerance_for

STEPS = 50
SAMPLES = 8
BATCH = 2
TOLERANCE = tolerance_for(np.float64)


def test_the_graph_examples_are_here():
    assert {"resnet20", "unet", "mobilenet", "two_tasks"} <= {p.stem for p in SHRUNK}


@lru_cache(maxsize=None)
def shrunk(path: Path):
    """The spec in batches of ``BATCH``, the first ``SAMPLES`` samples of its training data, and NumPy's run."""
    spec = compile_file(path).spec
    spec = spec.model_copy(update={"training": spec.training.model_copy(update={"batch_size": BATCH})})
    data = load_dataset(spec, base_dir=path.parent, dtype=np.float64)
    x, y = data.x_train[:SAMPLES], data.y_train[:SAMPLES]
    return spec, x, y, run_canonical("numpy", spec, x, y, steps=STEPS, dtype="float64")


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("path", SHRUNK, ids=lambda p: p.stem)
def test_a_graph_example_trains_as_numpy_in_float64(path, backend):
    need(backend)
    spec, x, y, reference = shrunk(path)
    assert reference.stopped is None and len(reference.losses) == STEPS
    if backend == "torch":
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # small batches on a shared machine: see tests/test_torch_backend.py
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
    assert len(trace.output_losses) == len(reference.output_losses)  # each output's loss, step by step
    assert relative_error(trace.first_outputs, reference.first_outputs) <= TOLERANCE
