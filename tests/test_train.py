"""`nnspec train` with the NumPy backend: real data, real accuracy, determinism, the run
directory, and bad input stopped before training (or a divergence stopped with a message)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from runtime.run_dir import load_weights
from cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def train(*args):
    return runner.invoke(app, ["train", *map(str, args)])


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "digits"
    result = train(ROOT / "specs" / "digits_mlp.nns", "--out", out)  # not -q: the test reads the epoch lines
    assert result.exit_code == 0, result.output
    return out, result


def test_digits_mlp_reaches_95_percent_validation_accuracy(digits_run):
    out, _ = digits_run
    history = json.loads((out / "history.json").read_text())
    best = max(e["val_accuracy"] for e in history)
    assert best > 0.95, best


def test_run_directory_holds_everything(digits_run):
    out, result = digits_run
    assert {p.name for p in out.iterdir()} == {"spec.nns", "ir.json", "weights.npz", "history.json", "history.csv",
                                             "run.json", "curves.png", "checkpoint.npz", ".nnspec.lock"}
    assert (out / "spec.nns").read_text() == (ROOT / "specs" / "digits_mlp.nns").read_text()
    weights = load_weights(out / "weights.npz")
    assert set(weights) == {"dense/kernel", "dense/bias", "dense_1/kernel", "dense_1/bias", "dense_2/kernel",
                            "dense_2/bias"}
    assert weights["dense/kernel"].shape == (64, 128) and weights["dense/kernel"].dtype == np.float32
    csv_lines = (out / "history.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy")
    assert len(csv_lines) == len(json.loads((out / "history.json").read_text())) + 1
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    info = json.loads((out / "run.json").read_text())
    assert info["backend"] == "numpy" and info["seed"] == 42
    assert "epoch 1/30" in result.output and "run directory" in result.output


def test_same_seed_gives_bit_identical_weights_and_history(tmp_path):
    spec = ROOT / "specs" / "vgg_cnn.nns"
    for name in ("a", "b"):
        assert train(spec, "--epochs", "2", "--out", tmp_path / name, "-q").exit_code == 0
    wa, wb = load_weights(tmp_path / "a" / "weights.npz"), load_weights(tmp_path / "b" / "weights.npz")
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)

    def strip_time(path):
        return [{k: v for k, v in e.items() if k != "seconds"} for e in json.loads(path.read_text())]

    assert strip_time(tmp_path / "a" / "history.json") == strip_time(tmp_path / "b" / "history.json")
    assert train(spec, "--epochs", "2", "--seed", "6", "--out", tmp_path / "c", "-q").exit_code == 0
    wc = load_weights(tmp_path / "c" / "weights.npz")
    assert not np.array_equal(wa["dense/kernel"], wc["dense/kernel"])


def test_a_compiled_ir_json_trains_like_its_spec(tmp_path):
    ir = tmp_path / "iris.ir.json"
    assert runner.invoke(app, ["compile", str(ROOT / "specs" / "sgd_momentum_step.nns"), "-o", str(ir)]).exit_code == 0
    assert train(ir, "--epochs", "2", "--out", tmp_path / "from_ir", "-q").exit_code == 0
    assert train(ROOT / "specs" / "sgd_momentum_step.nns", "--epochs", "2", "--out", tmp_path / "from_spec",
                 "-q").exit_code == 0
    a, b = load_weights(tmp_path / "from_ir" / "weights.npz"), load_weights(tmp_path / "from_spec" / "weights.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)


SMALL = """model m {{
    Input([4])
    Dense(8, activation=relu)
    Dense(3, activation=softmax)
}}
train {{
    loss = sparse_categorical_crossentropy
    optimizer = {optimizer}
    epochs = 3
    data = {data}
}}
"""


def write_spec(tmp_path, data='"data.npz"', optimizer="adam"):
    spec = tmp_path / "m.nns"
    spec.write_text(SMALL.format(data=data, optimizer=optimizer))
    return spec


@pytest.mark.parametrize("arrays,message", [
    (None, "does not exist"),
    ({"x": np.zeros((10, 5)), "y": np.zeros(10)}, "5"),
    ({"x": np.full((10, 4), np.nan), "y": np.zeros(10)}, "NaN"),
    ({"x": np.zeros((10, 4)), "y": np.full(10, 7)}, "outside"),
])
def test_bad_data_is_refused_before_training(tmp_path, arrays, message):
    spec = write_spec(tmp_path)
    if arrays is not None:
        np.savez(tmp_path / "data.npz", **arrays)
    result = train(spec, "--out", tmp_path / "run")
    assert result.exit_code == 2
    assert "error: data" in result.output and message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "run").exists()  # nothing written


def test_divergence_stops_with_epoch_step_and_layer_and_keeps_good_weights(tmp_path):
    spec = write_spec(tmp_path, data="iris", optimizer="sgd(learning_rate=1e30)")
    result = train(spec, "--out", tmp_path / "run", "-q")
    assert result.exit_code == 3, result.output
    assert "epoch 1, step" in result.output and "layer" in result.output
    weights = load_weights(tmp_path / "run" / "weights.npz")
    assert all(np.all(np.isfinite(w)) for w in weights.values())
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["outcome"].startswith("diverged")


def test_data_option_overrides_the_spec(tmp_path):
    spec = write_spec(tmp_path, data='"missing.npz"')
    result = train(spec, "--data", "iris", "--epochs", "1", "--out", tmp_path / "run", "-q")
    assert result.exit_code == 0, result.output
    assert "iris" in json.loads((tmp_path / "run" / "run.json").read_text())["data"]


def test_out_directory_that_is_not_empty_is_refused(tmp_path):
    spec = write_spec(tmp_path, data="iris")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "keep.txt").write_text("mine")
    result = train(spec, "--out", tmp_path / "run")
    assert result.exit_code == 2 and "not empty" in result.output
    assert (tmp_path / "run" / "keep.txt").read_text() == "mine"
