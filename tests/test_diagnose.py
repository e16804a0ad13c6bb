"""`nnspec diagnose`: the statistics are right, and the flags reproduce the textbook results —
Glorot collapses a deep ReLU stack where He keeps it stable (He et al., 2015), and naive
N(0, 1) saturates a deep tanh stack where Glorot does not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from runtime.data import load_dataset
from tools.diagnose import diagnose, with_initializer
from backends.numpy.trainer import NumpyTrainer
from cli import app
from compiler.pipeline import compile_file, compile_text

ROOT = Path(__file__).resolve().parent.parent

DEEP_RELU = """model deep_relu {
    Input([64])
    Rescaling(1 / 16)
    repeat 30 {
        Dense(64, activation=relu, kernel_initializer=glorot_normal)
    }
    Dense(10, activation=softmax)
}
train { loss = sparse_categorical_crossentropy  optimizer = sgd  data = digits }
"""


def measure(spec, batches=3):
    data = load_dataset(spec, dtype=np.float64)
    return diagnose(NumpyTrainer(spec, dtype=np.float64), spec, data.x_train, data.y_train, batches=batches)


def kinds(d):
    return {f.split(":")[0] for f in d.flags}


@pytest.fixture(scope="module")
def deep_relu():
    return compile_text(DEEP_RELU, "deep_relu.nns").spec


def test_glorot_collapses_a_deep_relu_stack_and_he_keeps_it(deep_relu):
    glorot = measure(deep_relu)
    he = measure(with_initializer(deep_relu, "he_normal"))
    assert "vanishing gradients" in kinds(glorot)
    assert "×0.50 per layer" in next(f for f in glorot.flags if f.startswith("vanishing"))  # Var halves per ReLU
    assert "vanishing gradients" not in kinds(he) and "exploding gradients" not in kinds(he)
    assert any("He initialization" in s for s in glorot.suggestions)
    hidden = [s.variance for s in he.layers if s.kind == "Dense"][:-1]
    assert 0.1 < hidden[-1] / hidden[0] < 10  # He: the variance neither collapses nor grows
    grad_he = np.median([s.grad_norm for s in he.layers if s.grad_norm])
    grad_glorot = np.median([s.grad_norm for s in glorot.layers if s.grad_norm])
    assert grad_he > 1e3 * grad_glorot


def test_naive_normal_saturates_a_deep_tanh_stack_and_glorot_does_not():
    spec = compile_file(ROOT / "specs" / "deep_tanh_mlp.nns").spec
    glorot = measure(spec)
    naive = measure(with_initializer(spec, "random_normal", stddev=1.0))
    assert glorot.flags == []
    assert "saturation" in kinds(naive)
    assert max(s.saturated for s in naive.layers if s.saturated is not None) > 0.5
    assert any("non-saturating" in s for s in naive.suggestions)


def test_statistics_match_a_direct_computation():
    spec = compile_text("""model m { Input([4]) Dense(5, activation=relu) Dense(3, activation=softmax) }
        train { loss = sparse_categorical_crossentropy optimizer = adam batch_size = 150 data = iris }""").spec
    trainer = NumpyTrainer(spec, dtype=np.float64)
    data = load_dataset(spec, dtype=np.float64)
    d = diagnose(trainer, spec, data.x_train, data.y_train, batches=1)
    w = trainer.get_weights()
    from compiler.semantics.batch_order import batches

    idx = batches(len(data.x_train), 150, spec.training.seed, 0)[0]
    hidden = np.maximum(data.x_train[idx] @ w["dense/kernel"] + w["dense/bias"], 0)
    stats = {s.name: s for s in d.layers}
    assert stats["dense"].mean == pytest.approx(hidden.mean())
    assert stats["dense"].variance == pytest.approx(hidden.var())
    assert stats["dense"].variance_ratio == pytest.approx(hidden.var() / data.x_train[idx].var())
    assert stats["dense"].dead == pytest.approx((hidden.max(axis=0) <= 0).mean())
    _, grads = trainer.probe(data.x_train[idx], data.y_train[idx])
    assert stats["dense"].grad_norm == pytest.approx(np.linalg.norm(grads["dense/kernel"]))
    assert stats["dense"].grad_to_weight == pytest.approx(
        np.linalg.norm(grads["dense/kernel"]) / np.linalg.norm(w["dense/kernel"]))


def test_probe_changes_no_weights():
    spec = compile_file(ROOT / "specs" / "vgg_cnn.nns").spec
    trainer = NumpyTrainer(spec, dtype=np.float64)
    before = {k: v.copy() for k, v in trainer.get_weights().items()}
    measure_data = load_dataset(spec, dtype=np.float64)
    diagnose(trainer, spec, measure_data.x_train, measure_data.y_train, batches=2)
    assert all(np.array_equal(before[k], v) for k, v in trainer.get_weights().items())


def test_cli_prints_table_flags_comparison_and_plot(tmp_path):
    spec = tmp_path / "deep_relu.nns"
    spec.write_text(DEEP_RELU)
    plot = tmp_path / "d.png"
    result = CliRunner().invoke(app, ["diagnose", str(spec), "--compare-init", "--batches", "2", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert "var out/in" in result.output and "grad norm" in result.output
    assert "warning: vanishing gradients" in result.output
    flags_row = next(line for line in result.output.splitlines() if line.startswith("flags"))
    assert "vanishing" in flags_row.split("dead", 1)[0]
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_train_track_records_per_layer_statistics_every_epoch(tmp_path):
    import json

    out = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(ROOT / "specs" / "digits_mlp.nns"), "--epochs", "3", "--track",
                                      "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 3
    for epoch in history:
        assert {"activation_variance/dense", "gradient_norm/dense", "gradient_norm/dense_2"} <= set(epoch)
        assert epoch["gradient_norm/dense"] > 0
    assert "gradient_norm/dense_1" in (out / "history.csv").read_text().splitlines()[0]
    assert (out / "tracking.png").exists()
    assert "gradient_norm" not in result.output  # the progress lines stay readable
