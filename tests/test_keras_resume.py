"""Checkpoints and resume with the Keras backend in native mode (Keras' own train step and
``SeedGenerator`` dropout, driven by the shared loop): an interrupted run, saved to a checkpoint file
and resumed in a new trainer, ends bit for bit as one that ran through. (The loop's contract for every
backend and mode is tests/test_loop_contract.py; this file adds the Keras-specific random state and
the command line's Ctrl-C path.)"""

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



def assert_same_history(a, b):
    """Exactly the same epochs, every value, the wall-clock ``seconds`` aside."""
    assert without_time(a) == without_time(b)


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.fixture(scope="module")
def setup():
    spec = compile_text(SPEC, "m.nns").spec
    data = load_dataset(spec)
    trainer = KerasTrainer(spec, mode="native")
    history = fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=EPOCHS, seed=5)
    return spec, data, trainer.get_weights(), history.epochs


def test_the_run_draws_dropout_masks_from_keras_seed_generator(setup):
    spec, data, _, _ = setup
    trainer = KerasTrainer(spec, mode="native")
    before = {k: v.copy() for k, v in trainer.state().items() if k.startswith("random/")}
    assert before  # the Dropout layer's seed generator is part of the checkpointed state
    trainer.train_batch(data.x_train[:16], data.y_train[:16], 0, 0.0)
    after = trainer.state()
    assert any(not np.array_equal(before[k], after[k]) for k in before)  # a training step drew masks


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
    assert_same_weights(trainer.get_weights(), reference_weights)
    assert_same_history(history.epochs, reference_history)


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
    original = KerasTrainer.train_batch

    def train_batch(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 11:
            signal.raise_signal(signal.SIGINT)  # the handler only sets a flag
        return result

    KerasTrainer.train_batch = train_batch
    try:
        result = runner.invoke(app, ["train", str(spec), "--backend", "keras", "--out", str(out), "-q"])
    finally:
        KerasTrainer.train_batch = original
    assert result.exit_code == 130, result.output
    assert "--resume" in result.output
    state, _, _, _ = load_checkpoint(out)
    assert (state.epoch, state.batch, state.step) == (1, 3, 11)
    result = runner.invoke(app, ["train", str(spec), "--resume", str(out)])  # not -q: it reads the first line
    assert result.exit_code == 0, result.output
    assert "resuming at epoch 2 after step 11" in result.output
    a, b = np.load(out / "weights.npz"), np.load(full / "weights.npz")
    assert_same_weights({k: a[k] for k in a.files}, {k: b[k] for k in b.files})
    assert_same_history(json.loads((out / "history.json").read_text()),
                        json.loads((full / "history.json").read_text()))
