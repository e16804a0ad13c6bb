"""The tools around training, on the PyTorch backend: checkpoints and resume (native and canonical
mode, bit for bit), `nnspec diagnose`, `nnspec lr-find` and `nnspec equiv` against the NumPy reference.

torch runs single-threaded here (as in test_torch_backend.py): results stay deterministic and the
tiny tensors run faster than with OpenMP's threads on a busy 2-core machine.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from frameworks import need

torch = need("torch")

import backends
from runtime.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from runtime.data import load_dataset
from tools.diagnose import diagnose
from tools.equiv import relative_error
from backends.contract import Interrupted, LoopState
from runtime.loop import fit
from tools.lr_find import range_test
from backends.numpy.trainer import NumpyTrainer
from backends.torch.trainer import TorchTrainer
from cli import app
from compiler.pipeline import compile_file, compile_text
from resume_cases import iris_resume_spec, sigint_during_step, without_time

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
TOL = 1e-9


@pytest.fixture(autouse=True, scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)



# ---- checkpoints and resume ---------------------------------------------------------------------
# An MLP on iris (120 training samples in batches of 16: 8 steps per epoch) with BatchNormalization,
# Dropout, Adam, a cosine schedule and early stopping that restores the best weights.
MLP = iris_resume_spec(6)

# A small CNN on the digits (8x8x1) with SpatialDropout2D, BatchNormalization, SGD with momentum and a
# step schedule; 300 training samples in batches of 32: 10 steps per epoch, the last one partial.
CNN = """model c {
    Input([8, 8, 1])
    Rescaling(1 / 16)
    Conv2D(4, 3, padding=same, use_bias=false)
    BatchNormalization()
    Activation(relu)
    SpatialDropout2D(0.25)
    MaxPooling2D(2)
    Flatten()
    Dropout(0.2)
    Dense(10, activation=softmax)
}
train {
    loss = sparse_categorical_crossentropy
    optimizer = sgd(learning_rate=0.05, momentum=0.9, nesterov=true)
    schedule = step(step_size=7, gamma=0.5)
    batch_size = 32
    epochs = 3
    seed = 11
    metrics = [accuracy]
    validation_split = 0.2
    early_stopping = monitor(val_accuracy, patience=5, mode=max, restore_best_weights=true)
    data = digits
}
"""

SPECS = {"mlp": MLP, "cnn": CNN}


@pytest.fixture(scope="module")
def setups():
    out = {}
    for name, text in SPECS.items():
        spec = compile_text(text, f"{name}.nns").spec
        data = load_dataset(spec)
        if name == "cnn":  # keep it quick: 300 training, 60 validation samples
            data = dataclasses.replace(data, x_train=data.x_train[:300], y_train=data.y_train[:300],
                                       x_val=data.x_val[:60], y_val=data.y_val[:60])
        out[name] = (spec, data)
    return out


def train(trainer, spec, data, **kwargs):
    t = spec.training
    return fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=t.epochs, seed=t.seed,
               **kwargs)


@pytest.mark.parametrize("mode", ["native", "canonical"])
@pytest.mark.parametrize("name,stops", [("mlp", [3]), ("mlp", [8]), ("mlp", [1, 5, 13, 21, 30, 41]),
                                        ("cnn", [4, 10, 17, 23])])
def test_interrupted_and_resumed_equals_uninterrupted(setups, tmp_path, mode, name, stops):
    spec, data = setups[name]
    reference = TorchTrainer(spec, mode=mode)
    reference_history = train(reference, spec, data)
    reference_weights = reference.get_weights()
    meta = {"fingerprint": fingerprint(spec)}
    trainer = TorchTrainer(spec, mode=mode)
    state = LoopState()
    for stop in stops:
        def save(s, trainer=trainer):
            save_checkpoint(tmp_path, s, weights=trainer.get_weights(), trainer_state=trainer.state(), meta=meta)

        with pytest.raises(Interrupted):
            train(trainer, spec, data, resume=state, on_checkpoint=save,
                  should_stop=lambda state=state, stop=stop: state.step >= stop)
        # a new process: everything comes back from the checkpoint file
        state, weights, trainer_state, _ = load_checkpoint(tmp_path)
        assert state.step == stop
        assert not any(k.startswith("rng/") for k in trainer_state)  # native masks follow from (seed, step)
        trainer = TorchTrainer(spec, weights, mode=mode)
        trainer.load_state(trainer_state)
    history = train(trainer, spec, data, resume=state)
    final = trainer.get_weights()
    assert set(final) == set(reference_weights)
    assert all(np.array_equal(final[k], reference_weights[k]) for k in reference_weights)  # bit for bit
    assert without_time(history.epochs) == without_time(reference_history.epochs)
    assert history.best_epoch == reference_history.best_epoch


def test_state_round_trip_carries_the_optimizer_and_native_masks_follow_the_step(setups):
    """A trainer rebuilt from another's weights and state draws the same masks and takes the same steps:
    native dropout masks depend on (seed, step) only, so the state holds no generator (and moves between
    devices)."""
    spec, data = setups["mlp"]
    a = TorchTrainer(spec, mode="native")
    x, y = data.x_train[:16], data.y_train[:16]
    for step in range(3):
        a.train_batch(x, y, step, 0.01)
    b = TorchTrainer(spec, a.get_weights(), mode="native")
    b.load_state(a.state())
    assert not any(k.startswith("rng/") for k in a.state())
    for step in range(3, 6):
        la, oa = a.train_batch(x, y, step, 0.01)
        lb, ob = b.train_batch(x, y, step, 0.01)
        assert la == lb and np.array_equal(oa, ob)
    wa, wb = a.get_weights(), b.get_weights()
    assert all(np.array_equal(wa[k], wb[k]) for k in wa)
    # the check has teeth: another step number draws other masks, so the step differs
    c = TorchTrainer(spec, a.get_weights(), mode="native")
    c.load_state(a.state())
    a.train_batch(x, y, 6, 0.01)
    c.train_batch(x, y, 7, 0.01)
    wa, wc = a.get_weights(), c.get_weights()
    assert not all(np.array_equal(wa[k], wc[k]) for k in wa)


def interrupted_run(tmp_path, spec_path: Path, mode: list[str]) -> Path:
    """A real CLI run on torch stopped by SIGINT after its second step (raised from inside the process)."""
    out = tmp_path / "run"
    with sigint_during_step(2):
        result = runner.invoke(app, ["train", str(spec_path), "--backend", "torch", *mode, "--out", str(out), "-q"])
    assert result.exit_code == 130, result.output
    assert "--resume" in result.output
    return out


@pytest.mark.parametrize("mode", [[], ["--mode", "canonical"]], ids=["native-default", "canonical"])
def test_cli_ctrl_c_and_resume_on_torch_finishes_identically(tmp_path, mode):
    spec_path = tmp_path / "m.nns"
    spec_path.write_text(MLP)
    out = interrupted_run(tmp_path, spec_path, mode)
    state, _, trainer_state, meta = load_checkpoint(out)
    assert (state.epoch, state.step) == (0, 2)
    assert meta["backend"] == "torch" and meta["mode"] == (mode[1] if mode else "native")
    assert not any(k.startswith("rng/") for k in trainer_state)
    result = runner.invoke(app, ["train", str(spec_path), "--resume", str(out)])  # not -q: it reads the first line
    assert result.exit_code == 0, result.output
    assert "resuming at epoch 1 after step 2" in result.output and "backend torch" in result.output
    full = tmp_path / "full"
    result = runner.invoke(app, ["train", str(spec_path), "--backend", "torch", *mode, "--out", str(full), "-q"])
    assert result.exit_code == 0, result.output
    a, b = np.load(out / "weights.npz"), np.load(full / "weights.npz")
    assert sorted(a.files) == sorted(b.files)
    assert all(np.array_equal(a[k], b[k]) for k in b.files)
    assert without_time(json.loads((out / "history.json").read_text())) == \
        without_time(json.loads((full / "history.json").read_text()))


# ---- nnspec diagnose ----------------------------------------------------------------------------
STAT_FIELDS = ("mean", "variance", "variance_ratio", "grad_norm", "grad_to_weight", "saturated", "dead")


@pytest.mark.parametrize("spec_name", ["vgg_cnn", "deep_tanh_mlp"])
def test_diagnose_on_torch_matches_numpy(spec_name):
    spec = compile_file(ROOT / "specs" / f"{spec_name}.nns").spec
    data = load_dataset(spec, dtype=np.float64)
    x, y = data.x_train[:256], data.y_train[:256]
    ours = diagnose(TorchTrainer(spec, dtype=np.float64, mode="canonical"), spec, x, y, batches=2)
    reference = diagnose(NumpyTrainer(spec, dtype=np.float64), spec, x, y, batches=2)
    assert [s.name for s in ours.layers] == [s.name for s in reference.layers]
    for a, b in zip(ours.layers, reference.layers):
        assert (a.kind, a.activation) == (b.kind, b.activation)
        for f in STAT_FIELDS:
            va, vb = getattr(a, f), getattr(b, f)
            assert (va is None) == (vb is None), (a.name, f)
            if va is not None:
                assert relative_error(va, vb) <= TOL or abs(va - vb) <= TOL, (a.name, f, va, vb)
    assert ours.flags == reference.flags
    assert ours.suggestions == reference.suggestions


def flag_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(("warning:", "ok:", "suggestion:"))]


def test_cli_diagnose_with_torch_and_compare_init(tmp_path):
    spec = str(ROOT / "specs" / "deep_tanh_mlp.nns")
    results = {}
    for backend in ("torch", "numpy"):
        plot = tmp_path / f"{backend}.png"
        result = runner.invoke(app, ["diagnose", spec, "--backend", backend, "--batches", "1", "--compare-init",
                                     "--plot", str(plot)])
        assert result.exit_code == 0, result.output
        assert plot.exists() and plot.stat().st_size > 0
        results[backend] = result.output
    assert "(torch on " in results["torch"]  # the header names the backend and its device
    assert "kernel gradient norm per layer under each initializer" in results["torch"]
    assert flag_lines(results["torch"]) == flag_lines(results["numpy"])
    assert flag_lines(results["torch"])


# ---- nnspec lr-find -----------------------------------------------------------------------------
def test_range_test_on_torch_matches_numpy():
    spec = compile_file(ROOT / "specs" / "digits_mlp.nns").spec
    data = load_dataset(spec, dtype=np.float64)
    kwargs = {"steps": 100, "min_lr": 1e-5, "max_lr": 100.0}
    ours = range_test(TorchTrainer(spec, dtype=np.float64, mode="canonical"), spec, data.x_train, data.y_train,
                      **kwargs)
    reference = range_test(NumpyTrainer(spec, dtype=np.float64), spec, data.x_train, data.y_train, **kwargs)
    assert ours.rates == reference.rates
    assert len(reference.rates) < 100 and "diverged" in reference.stopped_because  # the comparison runs: the comparison covers the whole test up to there
    assert ours.stopped_because == reference.stopped_because
    for a, b in zip(ours.losses, reference.losses):
        assert relative_error(a, b) <= TOL, (a, b)
    assert ours.steepest() == reference.steepest()
    assert ours.minimum() == reference.minimum()


def recommended(output: str) -> float:
    line = next(line for line in output.splitlines() if line.startswith("recommended learning rate:"))
    return float(line.split(":")[1].split()[0])


def test_cli_lr_find_with_torch_recommends_what_numpy_does(tmp_path):
    spec = str(ROOT / "specs" / "digits_mlp.nns")
    rates = {}
    for backend in ("torch", "numpy"):
        plot = tmp_path / f"{backend}.png"
        result = runner.invoke(app, ["lr-find", spec, "--backend", backend, "--steps", "100", "--min-lr", "1e-5",
                                     "--max-lr", "100",
                                     "--plot", str(plot)])
        assert result.exit_code == 0, result.output
        assert plot.exists()
        rates[backend] = recommended(result.output)
    assert 0.5 <= rates["torch"] / rates["numpy"] <= 2.0, rates


# ---- nnspec equiv -------------------------------------------------------------------------------
@pytest.mark.parametrize("spec_name", ["digits_mlp", "vgg_cnn"])
def test_cli_equiv_numpy_torch_is_equivalent(tmp_path, spec_name):
    result = runner.invoke(app, ["equiv", str(ROOT / "specs" / f"{spec_name}.nns"), "--backends", "numpy,torch",
                                 "--steps", "20", "--out", str(tmp_path / "equiv")])
    assert result.exit_code == 0, result.output
    assert "equivalent: largest relative difference" in result.output
    report = json.loads((tmp_path / "equiv" / "equiv.json").read_text())
    assert report["diverged"]["torch"]["step"] is None and report["diverged"]["torch"]["layer"] is None


class PerturbedTrainer(TorchTrainer):
    """TorchTrainer with its learning rate off by a factor 1 + 1e-6 from step 5 on (counted from 1, as the
    messages count; the loop's ``step`` counts from 0). Step 5's own loss is computed before its update,
    so the first loss that differs is step 6's."""

    def train_batch(self, x, y, step, lr):
        return super().train_batch(x, y, step, lr * (1 + 1e-6) if step + 1 >= 5 else lr)


def test_cli_equiv_names_the_step_and_layer_where_a_backend_diverges(tmp_path, monkeypatch):
    module = types.ModuleType("perturbed_torch_backend")
    module.PerturbedTrainer = PerturbedTrainer
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(backends.BACKENDS, "perturbed", (module.__name__, "PerturbedTrainer", "torch", "(test)"))
    result = runner.invoke(app, ["equiv", str(ROOT / "specs" / "digits_mlp.nns"), "--backends", "numpy,perturbed",
                                 "--steps", "20", "--out", str(tmp_path / "equiv")])
    assert result.exit_code == 1, result.output
    assert "perturbed diverges from numpy beyond 1e-09 at step 6, first in layer '" in result.output
    assert "equivalent:" not in result.output
    layer = result.output.split("first in layer '")[1].split("'")[0]
    assert layer in {layer.name for layer in compile_file(ROOT / "specs" / "digits_mlp.nns").spec.layers}
