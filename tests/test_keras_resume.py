"""Checkpoints and resume with the Keras backend in native mode (Keras' own ``fit``): an interrupted
run, saved to a checkpoint file and resumed in a new trainer, ends as one that ran through."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from frameworks import need

keras = need("keras")

from typer.testing import CliRunner

from runtime.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from runtime.data import load_dataset
from backends.keras.trainer import KerasTrainer
from backends.contract import Interrupted, LoopEvents, LoopState
from runtime.loop import fit
from cli import app
from compiler.pipeline import compile_text
from resume_cases import iris_resume_spec, without_time

runner = CliRunner()

SPEC = iris_resume_spec(5)
EPOCHS = 5  # 120 training samples in batches of 16: 8 steps per epoch



def assert_close_history(a, b):
    a, b = without_time(a), without_time(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.keys() == y.keys()
        for k in x:
            assert x[k] == pytest.approx(y[k], rel=1e-6, abs=1e-7), (x["epoch"], k)


def assert_close_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-6, atol=1e-7, err_msg=k)


@pytest.fixture(scope="module")
def setup():
    spec = compile_text(SPEC, "m.nns").spec
    data = load_dataset(spec)
    trainer = KerasTrainer(spec, mode="native")
    history = fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=EPOCHS, seed=5)
    return spec, data, trainer.get_weights(), history.epochs


def test_the_run_draws_dropout_masks_and_native_fit_is_used(setup):
    spec, _, _, _ = setup
    trainer = KerasTrainer(spec, mode="native")
    assert any(k.startswith("random/") for k in trainer.state())  # the Dropout layer's seed generator
    assert callable(trainer.native_fit)


# Stop mid-epoch, at an epoch boundary, after one step, and several times in one run.
@pytest.mark.parametrize("stops", [[3], [8], [1], [5, 13, 21, 30]])
def test_interrupted_and_resumed_equals_uninterrupted(setup, tmp_path, stops):
    spec, data, reference_weights, reference_history = setup
    meta = {"fingerprint": fingerprint(spec)}
    trainer = KerasTrainer(spec, mode="native")
    state = LoopState()
    for stop in stops:
        def save(s, trainer=trainer):
            save_checkpoint(tmp_path, s, weights=trainer.get_weights(), trainer_state=trainer.state(), meta=meta)

        with pytest.raises(Interrupted):
            fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=EPOCHS, seed=5,
                resume=state, on_checkpoint=save,
                should_stop=lambda trainer=trainer, stop=stop: int(trainer.optimizer.iterations.numpy()) >= stop)
        # a new process: everything comes back from the checkpoint file
        state, weights, trainer_state, _ = load_checkpoint(tmp_path)
        assert (state.epoch, state.batch, state.step) == (stop // 8, stop % 8, stop)
        trainer = KerasTrainer(spec, weights, mode="native")
        trainer.load_state(trainer_state)
    history = fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=EPOCHS, seed=5,
                  resume=state)
    assert_close_weights(trainer.get_weights(), reference_weights)
    assert_close_history(history.epochs, reference_history)


def test_checkpoint_every_n_steps_and_every_epoch(setup):
    spec, data, _, _ = setup
    seen, batches = [], []
    trainer = KerasTrainer(spec, mode="native")
    fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=2, seed=5,
        events=LoopEvents(batch_end=lambda b, loss: batches.append(b)),
        on_checkpoint=lambda s: seen.append((s.epoch, s.batch, s.step)), checkpoint_every=3)
    assert seen == [(0, 3, 3), (0, 6, 6), (1, 0, 8), (1, 1, 9), (1, 4, 12), (1, 7, 15), (2, 0, 16)]
    assert batches == list(range(8)) * 2


def test_cli_writes_checkpoints_and_ctrl_c_resumes_to_the_same_weights(tmp_path):
    spec = tmp_path / "m.nns"
    spec.write_text(SPEC.replace("epochs = 5", "epochs = 3"))
    full = tmp_path / "full"
    result = runner.invoke(app, ["train", str(spec), "--backend", "keras", "--out", str(full), "-q"])
    assert result.exit_code == 0, result.output
    state, _, trainer_state, meta = load_checkpoint(full)
    assert (state.epoch, state.batch, state.step, meta["backend"]) == (3, 0, 24, "keras")
    assert any(k.startswith("random/") for k in trainer_state)

    out = tmp_path / "run"
    calls = {"n": 0}
    original = KerasTrainer._native_fit

    def native_fit(self, *args, events=None, **kwargs):
        def batch_end(b, loss):
            calls["n"] += 1
            if calls["n"] == 11:
                signal.raise_signal(signal.SIGINT)  # the handler only sets a flag
            events.batch_end(b, loss)

        from dataclasses import replace
        return original(self, *args, events=replace(events, batch_end=batch_end), **kwargs)

    KerasTrainer._native_fit = native_fit
    try:
        result = runner.invoke(app, ["train", str(spec), "--backend", "keras", "--out", str(out), "-q"])
    finally:
        KerasTrainer._native_fit = original
    assert result.exit_code == 130, result.output
    assert "--resume" in result.output
    state, _, _, _ = load_checkpoint(out)
    assert (state.epoch, state.batch, state.step) == (1, 3, 11)
    result = runner.invoke(app, ["train", str(spec), "--resume", str(out)])  # not -q: it reads the first line
    assert result.exit_code == 0, result.output
    assert "resuming at epoch 2 after step 11" in result.output
    a, b = np.load(out / "weights.npz"), np.load(full / "weights.npz")
    assert_close_weights({k: a[k] for k in a.files}, {k: b[k] for k in b.files})
    assert_close_history(json.loads((out / "history.json").read_text()),
                         json.loads((full / "history.json").read_text()))
