"""Across all three backends: native training reaches the same accuracy, weights trained in one
load into the others with the same predictions, and the tools of issue 5 work on Keras too."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from frameworks import need

need("torch")
need("keras")

from runtime.trainers import make_trainer  # noqa: E402
from runtime.data import load_dataset  # noqa: E402
from tools.diagnose import diagnose  # noqa: E402
from compiler.semantics.initializers import initial_weights  # noqa: E402
from runtime.run_dir import load_weights  # noqa: E402
from tools.equiv import relative_error  # noqa: E402
from cli import app  # noqa: E402
from compiler.pipeline import compile_file  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("numpy", "torch", "keras")
runner = CliRunner()


@pytest.fixture(scope="module")
def native_runs(tmp_path_factory):
    """The digits MLP trained natively (own initializers and random numbers) on each backend."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    runs = {}
    try:
        for backend in BACKENDS:
            out = tmp_path_factory.mktemp("native") / backend
            result = runner.invoke(app, ["train", str(ROOT / "specs" / "digits_mlp.nns"), "--backend", backend,
                                         "--out", str(out), "-q"])
            assert result.exit_code == 0, result.output
            runs[backend] = out
    finally:
        torch.set_num_threads(threads)
    return runs


def best_val_accuracy(run: Path) -> float:
    history = json.loads((run / "history.json").read_text())
    epoch = json.loads((run / "run.json").read_text())["weights_epoch"]
    return next(e["val_accuracy"] for e in history if e["epoch"] == epoch)


def test_native_training_reaches_the_same_accuracy_on_every_backend(native_runs):
    accuracies = {b: best_val_accuracy(run) for b, run in native_runs.items()}
    assert all(a > 0.95 for a in accuracies.values()), accuracies
    assert max(accuracies.values()) - min(accuracies.values()) <= 0.01, accuracies  # within 1 percentage point
    native = {b: load_weights(run / "weights.npz")["dense/kernel"] for b, run in native_runs.items()}
    assert not np.allclose(native["torch"], native["keras"])  # really each framework's own random numbers


@pytest.mark.parametrize("source", BACKENDS)
def test_weights_trained_in_one_backend_predict_the_same_in_the_others(native_runs, source):
    spec = compile_file(ROOT / "specs" / "digits_mlp.nns").spec
    data = load_dataset(spec, dtype=np.float64)
    weights = {k: v.astype(np.float64) for k, v in load_weights(native_runs[source] / "weights.npz").items()}
    predictions = {}
    for backend in BACKENDS:
        trainer = make_trainer(backend, spec, weights=weights, dtype=np.float64, mode="canonical")
        predictions[backend] = np.asarray(trainer.evaluate_batch(data.x_val, data.y_val)[1])
    for backend in BACKENDS:
        # float64 on every side: the same predictions to round-off (README: weights cross the boundary)
        assert relative_error(predictions[backend], predictions["numpy"]) <= 1e-12, backend


def test_keras_diagnose_matches_numpy():
    spec = compile_file(ROOT / "specs" / "deep_tanh_mlp.nns").spec
    data = load_dataset(spec, dtype=np.float64)
    x, y = data.x_train[:128], data.y_train[:128]
    weights = initial_weights(spec, spec.training.seed, np.float64)
    results = {b: diagnose(make_trainer(b, spec, weights=weights, dtype=np.float64, mode="canonical"), spec, x, y,
                           batches=2) for b in ("numpy", "keras")}
    for a, b in zip(results["numpy"].layers, results["keras"].layers):
        assert a.name == b.name
        assert b.variance == pytest.approx(a.variance, rel=1e-9)
        if a.grad_norm is not None:
            assert b.grad_norm == pytest.approx(a.grad_norm, rel=1e-9)
    assert results["numpy"].flags == results["keras"].flags


def test_keras_lr_find_runs_from_the_cli(tmp_path):
    plot = tmp_path / "lr.png"
    result = runner.invoke(app, ["lr-find", str(ROOT / "specs" / "digits_mlp.nns"), "--backend", "keras",
                                 "--steps", "60", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "recommended learning rate" in result.output and plot.exists()
