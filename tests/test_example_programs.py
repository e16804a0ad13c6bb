"""The programs ``nnspec emit`` writes for the example graphs (``example_specs.SHRUNK``: resnet20, unet,
mobilenet, two_tasks) run and compute what nnspec does, in float64, on the examples' own data:

- the PyTorch and the Keras program's ``predict`` with the canonical weights (random moving statistics, so
  BatchNormalization's inference path counts) gives NumPy's outputs to 1e-9 relative, one array per output;
- a model of one output: the programs' own training steps (``train_step``, their optimizer) give NumPy's
  loss at every step and its final weights after ``STEPS`` steps (dropout rates set to 0: a program draws its
  own masks). tests/test_emit.py holds the mechanism (its helpers are imported from there) and the matrix.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from example_specs import SHRUNK
from frameworks import need
from test_emit import assert_weights_match, emitted_module, float32_exact, reference_weights

from backends.numpy.model import NumpyModel
from compiler.pipeline import compile_file, compile_text
from compiler.semantics.initializers import initial_weights
from runtime.data import load_dataset
from tools.equiv import relative_error, run_canonical, step_batches

pytestmark = pytest.mark.filterwarnings(  # Keras' convert_to_numpy under NumPy 2, not ours
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning")

TOLERANCE = 1e-9
SAMPLES, BATCH, STEPS = 4, 2, 3


@lru_cache(maxsize=None)
def example(path: Path):
    """The spec without dropout, in batches of ``BATCH``, and the first ``SAMPLES`` samples of its data."""
    text = re.sub(r"Dropout(2D)?\(0\.\d+\)", r"Dropout\1(0.0)", path.read_text())
    text = re.sub(r"batch_size = \d+", f"batch_size = {BATCH}", text)
    spec = compile_text(text, str(path)).spec
    data = load_dataset(spec, base_dir=path.parent, dtype=np.float64)
    return spec, data.x_train[:SAMPLES], data.y_train[:SAMPLES]


def outputs(value) -> list[np.ndarray]:
    return [np.asarray(v) for v in value] if isinstance(value, (list, tuple)) else [np.asarray(value)]


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("path", SHRUNK, ids=lambda p: p.stem)
def test_the_emitted_program_predicts_as_nnspec(path, backend, tmp_path):
    need(backend)
    spec, x, _ = example(path)
    if backend == "keras":
        spec = float32_exact(spec)  # Keras holds hyperparameters in float32 (tests/test_emit.py)
    module = emitted_module(tmp_path, spec, backend, f"example_{path.stem}")
    weights = reference_weights(spec)
    model = module.build_model(dtype="float64")
    module.set_weights(model, weights)
    expected = outputs(NumpyModel(spec, {k: v.copy() for k, v in weights.items()}).predict(x))
    got = outputs(module.predict(model, dict(x.items()) if hasattr(x, "items") else x))  # several inputs: by name
    assert len(got) == len(expected) == len(spec.outputs or (None,))
    for ours, theirs in zip(got, expected):
        assert relative_error(ours, theirs) <= TOLERANCE


@pytest.mark.parametrize("backend", ["torch", "keras"])
@pytest.mark.parametrize("path", [p for p in SHRUNK if len(compile_file(p).spec.output_layers) == 1],
                         ids=lambda p: p.stem)
def test_the_emitted_program_trains_as_nnspec(path, backend, tmp_path):
    need(backend)
    spec, x, y = example(path)
    if backend == "keras":
        spec = float32_exact(spec)
    module = emitted_module(tmp_path, spec, backend, f"example_{path.stem}")
    reference = run_canonical("numpy", spec, x, y, steps=STEPS, dtype="float64")
    model = module.build_model(dtype="float64")
    if backend == "keras":
        model = module.compile_model(model)
        model.run_eagerly = True  # Keras' own train step, untraced: faster for a few steps
    module.set_weights(model, initial_weights(spec, spec.training.seed, np.float64))
    batches = step_batches(len(x), spec.training.batch_size, spec.training.seed, STEPS)
    if backend == "torch":
        optimizer = module.make_optimizer(model)
        losses = [module.train_step(model, optimizer, x[idx], y[idx], step)[0] for step, idx in enumerate(batches)]
    else:
        losses = [module.train_step(model, x[idx], y[idx]) for idx in batches]
    assert relative_error(losses, reference.losses) <= TOLERANCE
    assert_weights_match(module.get_weights(model), reference.weights)
