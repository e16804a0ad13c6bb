"""The training loop's contract, tested once for every backend and mode: what a new backend must pass.

One loop (``runtime.loop.fit``) drives every ``backends.contract.Trainer``; these tests run it over
every backend registered in ``backends.BACKENDS`` × every mode in ``backends.MODES`` (Keras' native
mode included: its step is Keras' own, called by the loop per batch), so a backend added to the
registry is held to the same promises without a new test:

- batch order (``compiler.semantics.batch_order``), the step and learning rate handed to each
  ``train_batch``, the loss and metrics as running sums over the epoch, validation in inference mode,
  the history's keys;
- early stopping that restores the best epoch's weights;
- a checkpoint at every epoch end and every N steps; a stop on request at a step boundary (the
  SIGINT/SIGTERM path of ``nnspec train``), checkpointed;
- exact resume: a run interrupted (once or several times), saved to a checkpoint file and resumed in
  a new trainer ends bit for bit as one that ran through — weights and history;
- divergence caught before a bad update: ``Diverged`` with the step, the checkpoint holding the
  weights after the last good step.

The spec (``resume_cases.iris_resume_spec``) has everything that makes this hard: BatchNormalization
statistics, dropout masks, Adam's slots, a cosine schedule, early stopping with restore_best_weights.
"""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
from typer.testing import CliRunner

from backends import BACKENDS, MODES
from backends.contract import Interrupted, LoopEvents, LoopState
from cli import app
from compiler.ir import training as tr
from compiler.pipeline import compile_text
from compiler.semantics.batch_order import batches
from compiler.semantics.divergence import Diverged
from compiler.semantics.metrics import metric_sums
from compiler.semantics.schedules import learning_rate
from frameworks import FRAMEWORKS, need
from resume_cases import graph_resume_spec, iris_resume_spec, sigint_during_step, without_time
from runtime.checkpoint import fingerprint, load_checkpoint, save_checkpoint
from runtime.data import load_dataset
from runtime.loop import evaluate, fit
from runtime.trainers import make_trainer

runner = CliRunner()

EPOCHS = 3
STEPS = 8  # 120 training samples in batches of 16
SPEC = compile_text(iris_resume_spec(EPOCHS), "m.nns").spec
CASES = [pytest.param(b, m, id=f"{b}-{m}") for b in BACKENDS for m in MODES]


def framework(backend: str) -> None:
    """The backend's framework, or a skip (a failure in CI: ``frameworks.need``)."""
    package = BACKENDS[backend][2]
    if package in FRAMEWORKS:
        need(package)


def weights_of(trainer) -> dict[str, np.ndarray]:
    """Copies (a trainer may hand out its live arrays)."""
    return {k: np.array(v, copy=True) for k, v in trainer.get_weights().items()}


def trainer_for(backend: str, mode: str, spec=SPEC, weights=None, dtype=np.float32):
    framework(backend)
    return make_trainer(backend, spec, weights=weights, dtype=dtype, mode=mode)


class Recording:
    """A trainer that records what the loop hands to ``train_batch`` and what it returns (through
    ``runtime.loop.HostSteps``: its own ``steps``, where it has them, are hidden; see
    ``test_own_steps_train_as_the_checked_steps_do``)."""

    steps = None

    def __init__(self, trainer):
        self.trainer, self.calls = trainer, []

    def train_batch(self, x, y, step, lr):
        loss, out = self.trainer.train_batch(x, y, step, lr)
        self.calls.append({"x": np.array(x), "y": np.array(y), "step": step, "lr": lr, "loss": loss,
                           "out": np.array(out)})
        return loss, out

    def __getattr__(self, name):
        return getattr(self.trainer, name)


@pytest.fixture(scope="module")
def data():
    return load_dataset(SPEC)


_RUNS: dict = {}


def run_through(backend, mode, data):
    """The uninterrupted run of a backend and mode (cached): its weights, history and recorded calls."""
    if (backend, mode) not in _RUNS:
        trainer = Recording(trainer_for(backend, mode))
        history = fit(trainer, SPEC, data.x_train, data.y_train, data.x_val, data.y_val, epochs=EPOCHS, seed=5)
        val = evaluate(trainer, SPEC, data.x_val, data.y_val, SPEC.training.batch_size)
        _RUNS[backend, mode] = weights_of(trainer), history, trainer.calls, val
    return _RUNS[backend, mode]


@pytest.mark.parametrize("backend,mode", CASES)
def test_batches_rates_metrics_validation_and_history(backend, mode, data):
    weights, history, calls, val = run_through(backend, mode, data)
    t = SPEC.training
    assert [c["step"] for c in calls] == list(range(EPOCHS * STEPS))
    for c in calls:  # each step's rate is the schedule's, passed by the loop
        assert c["lr"] == learning_rate(t.optimizer, t.schedule, c["step"])
    n = len(data.x_train)
    for epoch, logs in enumerate(history.epochs):
        order = batches(n, t.batch_size, 5, epoch)
        mine = calls[epoch * STEPS:(epoch + 1) * STEPS]
        for idx, c in zip(order, mine, strict=True):  # the shared batch order, every backend
            np.testing.assert_array_equal(c["x"], data.x_train[idx].astype(c["x"].dtype))
            np.testing.assert_array_equal(c["y"], data.y_train[idx])
        # the epoch's loss and metric: means over its samples of what the steps returned
        assert logs["loss"] == pytest.approx(sum(c["loss"] * len(c["x"]) for c in mine) / n, rel=1e-12)
        correct = sum(metric_sums("accuracy", t.loss, c["out"], c["y"], False) for c in mine)
        assert logs["accuracy"] == pytest.approx(correct / n, rel=1e-12)
        assert logs["learning_rate"] == mine[-1]["lr"]
        assert logs["epoch"] == epoch + 1
    assert list(history.epochs[0]) == ["epoch", "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate",
                                       "seconds"]
    # validation in inference mode; the weights kept at the end are those of the best epoch
    best = int(np.argmin(history.column("val_loss")))
    assert history.best_epoch == best + 1 and not history.stopped_early
    assert history.epochs[best]["val_loss"] == val["loss"]
    assert history.epochs[best]["val_accuracy"] == val["accuracy"]


@pytest.mark.parametrize("backend,mode", CASES)
def test_early_stopping_stops_and_restores_the_best_epoch(backend, mode, data):
    rule = tr.EarlyStopping(monitor="val_loss", patience=1, min_delta=1e6, restore_best_weights=True)
    spec = SPEC.model_copy(update={"training": SPEC.training.model_copy(update={"early_stopping": rule})})
    trainer = trainer_for(backend, mode, spec)
    at_epoch_end = []
    events = LoopEvents(epoch_end=lambda e, logs: at_epoch_end.append(weights_of(trainer)))
    history = fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=5, seed=5,
                  events=events)
    # no later epoch improves by 1e6: the first is the best, the second exhausts the patience
    assert (len(history.epochs), history.stopped_early, history.best_epoch) == (2, True, 1)
    final = trainer.get_weights()
    for k, v in at_epoch_end[0].items():
        np.testing.assert_array_equal(final[k], v, err_msg=k)


@pytest.mark.parametrize("backend,mode", CASES)
def test_checkpoint_every_n_steps_and_every_epoch(backend, mode, data):
    seen, ends = [], []
    trainer = trainer_for(backend, mode)
    fit(trainer, SPEC, data.x_train, data.y_train, data.x_val, data.y_val, epochs=2, seed=5,
        events=LoopEvents(batch_end=lambda b, loss: ends.append(b)),
        on_checkpoint=lambda s: seen.append((s.epoch, s.batch, s.step)), checkpoint_every=3)
    assert seen == [(0, 3, 3), (0, 6, 6), (1, 0, 8), (1, 1, 9), (1, 4, 12), (1, 7, 15), (2, 0, 16)]
    assert ends == list(range(STEPS)) * 2


# Stop mid-epoch, at an epoch boundary, after one step, and several times in one run.
@pytest.mark.parametrize("stops", [[3], [8], [1], [5, 13, 21]], ids=str)
@pytest.mark.parametrize("backend,mode", CASES)
def test_interrupted_and_resumed_equals_uninterrupted_bit_for_bit(backend, mode, stops, data, tmp_path):
    reference_weights, reference_history, _, _ = run_through(backend, mode, data)
    meta = {"fingerprint": fingerprint(SPEC)}
    trainer = trainer_for(backend, mode)
    state = LoopState()
    for stop in stops:
        def save(s, trainer=trainer):
            save_checkpoint(tmp_path, s, weights=trainer.get_weights(), trainer_state=trainer.state(), meta=meta)

        with pytest.raises(Interrupted):
            fit(trainer, SPEC, data.x_train, data.y_train, data.x_val, data.y_val, epochs=EPOCHS, seed=5,
                resume=state, on_checkpoint=save, should_stop=lambda state=state, stop=stop: state.step >= stop)
        # a new process: everything comes back from the checkpoint file
        state, weights, trainer_state, _ = load_checkpoint(tmp_path)
        assert (state.epoch, state.batch, state.step) == (stop // STEPS, stop % STEPS, stop)
        trainer = trainer_for(backend, mode, weights=weights)
        trainer.load_state(trainer_state)
    history = fit(trainer, SPEC, data.x_train, data.y_train, data.x_val, data.y_val, epochs=EPOCHS, seed=5,
                  resume=state)
    final = trainer.get_weights()
    assert final.keys() == reference_weights.keys()
    for k, v in reference_weights.items():
        np.testing.assert_array_equal(final[k], v, err_msg=k)
    assert without_time(history.epochs) == without_time(reference_history.epochs)


GRAPH_SPEC = compile_text(graph_resume_spec(EPOCHS), "g.nns").spec


@pytest.mark.parametrize("backend,mode", CASES)
def test_a_graph_interrupted_and_resumed_equals_uninterrupted_bit_for_bit(backend, mode, data, tmp_path):
    """The resume of a graph (residuals, a shortcut, branches, BatchNormalization and dropout in a residual
    body): stopped inside the first epoch and inside the second, each time a new trainer from the checkpoint
    file, it ends with the weights and history of a run that went through."""
    def run(trainer, **kwargs):
        return fit(trainer, GRAPH_SPEC, data.x_train, data.y_train, data.x_val, data.y_val, epochs=EPOCHS, seed=5,
                   **kwargs)

    straight = trainer_for(backend, mode, GRAPH_SPEC)
    reference = run(straight)
    meta = {"fingerprint": fingerprint(GRAPH_SPEC)}
    trainer, state = trainer_for(backend, mode, GRAPH_SPEC), LoopState()
    for stop in (5, 13):
        def save(s, trainer=trainer):
            save_checkpoint(tmp_path, s, weights=trainer.get_weights(), trainer_state=trainer.state(), meta=meta)

        with pytest.raises(Interrupted):
            run(trainer, resume=state, on_checkpoint=save,
                should_stop=lambda state=state, stop=stop: state.step >= stop)
        state, weights, trainer_state, _ = load_checkpoint(tmp_path)
        assert state.step == stop
        trainer = trainer_for(backend, mode, GRAPH_SPEC, weights=weights)
        trainer.load_state(trainer_state)
    history = run(trainer, resume=state)
    final, expected = trainer.get_weights(), straight.get_weights()
    assert final.keys() == expected.keys()
    for k, v in expected.items():
        np.testing.assert_array_equal(final[k], v, err_msg=k)
    assert without_time(history.epochs) == without_time(reference.epochs)


@pytest.mark.parametrize("backend,mode", CASES)
def test_own_steps_train_as_the_checked_steps_do(backend, mode, data):
    """A trainer's own ``Steps`` (the torch backend's keep everything on the device) train to the bits of
    its checked ``train_batch`` driven by ``runtime.loop.HostSteps``, with the same history."""
    weights, history, _, val = run_through(backend, mode, data)
    trainer = trainer_for(backend, mode)
    own = fit(trainer, SPEC, data.x_train, data.y_train, data.x_val, data.y_val, epochs=EPOCHS, seed=5)
    for k, v in weights.items():
        np.testing.assert_array_equal(trainer.get_weights()[k], v, err_msg=k)
    mine, theirs = without_time(own.epochs), without_time(history.epochs)
    assert [e.keys() for e in mine] == [e.keys() for e in theirs]
    for a, b in zip(mine, theirs):
        for key in a:
            assert a[key] == pytest.approx(b[key], rel=1e-6, abs=1e-7), key


@pytest.mark.parametrize("backend,mode", CASES)
def test_ctrl_c_stops_at_a_step_boundary_and_the_resumed_run_ends_as_one_that_ran_through(backend, mode, tmp_path):
    """``nnspec train``: SIGINT during a step (its handler only sets a flag) stops after that step with
    a checkpoint and exit 130; ``--resume`` ends with the weights and history of an uninterrupted run."""
    framework(backend)
    spec = tmp_path / "m.nns"
    spec.write_text(iris_resume_spec(2))
    options = ["--backend", backend, "--mode", mode, "-q"]
    full = tmp_path / "full"
    result = runner.invoke(app, ["train", str(spec), "--out", str(full), *options])
    assert result.exit_code == 0, result.output
    out = tmp_path / "run"
    with sigint_during_step(11):
        result = runner.invoke(app, ["train", str(spec), "--out", str(out), *options])
    assert result.exit_code == 130, result.output
    assert "--resume" in result.output
    state, _, _, _ = load_checkpoint(out)
    assert (state.epoch, state.batch, state.step) == (1, 3, 11)
    result = runner.invoke(app, ["train", str(spec), "--resume", str(out)])
    assert result.exit_code == 0, result.output
    a, b = np.load(out / "weights.npz"), np.load(full / "weights.npz")
    assert sorted(a.files) == sorted(b.files)
    for k in b.files:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert without_time(json.loads((out / "history.json").read_text())) == \
        without_time(json.loads((full / "history.json").read_text()))


DIVERGING = compile_text("""model r {
    Input([4])
    Dense(16, activation=relu)
    BatchNormalization()
    Dense(1)
}
train {
    loss = mse
    optimizer = sgd(learning_rate=10.0)
    batch_size = 16
    seed = 3
}
""").spec


@pytest.mark.parametrize("backend,mode", CASES)
def test_divergence_is_caught_before_the_bad_update_with_the_last_good_weights(backend, mode):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)) * 100, rng.normal(size=(64, 1)) * 100
    trainer = trainer_for(backend, mode, DIVERGING, dtype=np.float64)
    saved = []
    with pytest.raises(Diverged) as info:
        fit(trainer, DIVERGING, x, y, x[:0], y[:0], epochs=20, seed=3,
            on_checkpoint=lambda s: saved.append((s.step, weights_of(trainer))))
    exc = info.value
    assert exc.step == exc.weights_step + 1 and exc.epoch == exc.weights_step // 4 + 1
    assert saved[-1][0] == exc.weights_step  # the final checkpoint: the state after the last good step
    good = saved[-1][1]
    assert all(np.isfinite(v).all() for v in good.values())
    # the same run stopped on request after that step holds the same weights, bit for bit
    again = trainer_for(backend, mode, DIVERGING, dtype=np.float64)
    state = LoopState()
    if exc.weights_step:
        with pytest.raises(Interrupted):
            fit(again, DIVERGING, x, y, x[:0], y[:0], epochs=20, seed=3, resume=state,
                should_stop=lambda: state.step >= exc.weights_step)
    for k, v in again.get_weights().items():
        np.testing.assert_array_equal(good[k], v, err_msg=k)
        np.testing.assert_array_equal(trainer.get_weights()[k], v, err_msg=k)  # the trainer is left there too
