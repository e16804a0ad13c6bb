"""One trial of a search is one normal training run (``tools.search.trial_run.run_trial``): its directory is
what ``nnspec train --out`` writes for the same text (no PNGs), bit for bit — the promise that ``best.nns``
retrained reproduces its trial — and a trial ends as complete, pruned or failed with a one-line error,
never with an exception other than ``Interrupted`` (whose checkpoint ``nnspec train --resume`` continues)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from backends.contract import Interrupted
from cli import app
from compiler.pipeline import compile_text
from runtime.checkpoint import load_checkpoint
from runtime.run_dir import load_weights
from runtime.run_lock import lock_run_dir
from tools.search.trial_run import run_trial

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
EPOCHS = 3
TEXT = (ROOT / "specs" / "digits_mlp.nns").read_text().replace("epochs = 30", f"epochs = {EPOCHS}")
RUN_FILES = {"spec.nns", "ir.json", "weights.npz", "history.json", "history.csv", "run.json", "checkpoint.npz",
             ".nnspec.lock"}


def without(records: list[dict], key: str = "seconds") -> list[dict]:
    return [{k: v for k, v in r.items() if k != key} for r in records]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The digits MLP text trained by ``nnspec train --out`` and by ``run_trial`` (same spec file name)."""
    base = tmp_path_factory.mktemp("pair")
    spec = base / "digits.nns"
    spec.write_text(TEXT)
    result = runner.invoke(app, ["train", str(spec), "--out", str(base / "train"), "-q"])
    assert result.exit_code == 0, result.output
    outcome = run_trial(TEXT, base / "trial", source_name=str(spec))
    return base / "train", base / "trial", outcome


def test_a_trial_writes_what_nnspec_train_writes_bit_for_bit(pair):
    trained, trial, outcome = pair
    assert outcome.status == "complete" and outcome.error is None and outcome.run_dir == trial
    assert {p.name for p in trained.iterdir()} == RUN_FILES | {"curves.png"}
    assert {p.name for p in trial.iterdir()} == RUN_FILES  # no PNG
    assert (trial / "spec.nns").read_text() == (trained / "spec.nns").read_text() == TEXT
    # the IR's spans name the file their lines are in: the trial's own spec.nns
    spec_file = json.dumps(str(trained.parent / "digits.nns"))
    assert (trial / "ir.json").read_text() == \
        (trained / "ir.json").read_text().replace(spec_file, json.dumps(str(trial / "spec.nns")))
    a, b = load_weights(trained / "weights.npz"), load_weights(trial / "weights.npz")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) and a[k].dtype == b[k].dtype for k in a)
    history = json.loads((trained / "history.json").read_text())
    assert len(history) == EPOCHS
    assert without(json.loads((trial / "history.json").read_text())) == without(history)
    rows = [list(csv.DictReader(io.StringIO((d / "history.csv").read_text()))) for d in (trained, trial)]
    assert without(rows[0]) == without(rows[1])
    info_train, info_trial = (json.loads((d / "run.json").read_text()) for d in (trained, trial))
    assert without([info_trial]) == without([info_train])
    # the checkpoint continues the same run: weights, trainer state and position alike
    (s1, w1, t1, m1), (s2, w2, t2, m2) = load_checkpoint(trained), load_checkpoint(trial)
    assert all(np.array_equal(w1[k], w2[k]) for k in w1) and w1.keys() == w2.keys()
    assert t1.keys() == t2.keys() and all(np.array_equal(t1[k], t2[k]) for k in t1)
    assert (s1.epoch, s1.batch, s1.step) == (s2.epoch, s2.batch, s2.step)
    assert m1["fingerprint"] == m2["fingerprint"]
    # what the outcome says is what the directory holds
    assert without(outcome.epochs) == without(history)
    assert outcome.kept_epoch == info_trial["weights_epoch"]


def test_nnspec_report_draws_a_trials_curves_later(pair, tmp_path):
    _, trial, _ = pair
    plot = tmp_path / "curves.png"
    result = runner.invoke(app, ["report", str(trial), "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_trial_prints_nothing_not_even_lints(tmp_path, capfd):
    unscaled = TEXT.replace("    Rescaling(1 / 16)  # pixel values 0..16 -> [0, 1]\n", "")
    assert unscaled != TEXT
    spec = tmp_path / "unscaled.nns"
    spec.write_text(unscaled)
    assert compile_text(unscaled).warnings  # a lint that nnspec check and nnspec train show
    capfd.readouterr()
    outcome = run_trial(unscaled.replace(f"epochs = {EPOCHS}", "epochs = 1"), tmp_path / "run",
                        source_name=str(spec))
    assert outcome.status == "complete"
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_report_returning_true_prunes_after_that_epoch_with_a_complete_run_dir(tmp_path):
    calls = []

    def report(epoch, logs):
        calls.append((epoch, dict(logs)))
        return epoch == 2

    text = TEXT.replace(f"epochs = {EPOCHS}", "epochs = 6")
    outcome = run_trial(text, tmp_path / "run", source_name=str(ROOT / "specs" / "digits_mlp.nns"), report=report)
    assert outcome.status == "pruned" and outcome.error is None
    assert [epoch for epoch, _ in calls] == [1, 2]
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [logs for _, logs in calls] == history == outcome.epochs
    assert {"val_loss", "val_accuracy"} <= set(history[0])
    assert {p.name for p in (tmp_path / "run").iterdir()} == RUN_FILES
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["outcome"] == "pruned after epoch 2"
    assert info["weights_epoch"] == outcome.kept_epoch == 2
    state, _, _, _ = load_checkpoint(tmp_path / "run")
    assert (state.epoch, state.batch) == (2, 0)  # the checkpoint is at the end of the epoch pruned after


def test_a_diverging_point_fails_with_its_message_and_the_run_dir_train_writes(tmp_path):
    text = TEXT.replace("adam(learning_rate=1e-3)", "sgd(learning_rate=1e308)")
    outcome = run_trial(text, tmp_path / "run", source_name="digits.nns")
    assert outcome.status == "failed" and outcome.kept_epoch is None
    assert outcome.error.startswith("diverged at epoch 1, step ") and "\n" not in outcome.error
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["outcome"].startswith("diverged: epoch 1, step ") and "weights_step" in info
    assert {"weights.npz", "checkpoint.npz", "spec.nns"} <= {p.name for p in (tmp_path / "run").iterdir()}


def test_a_point_that_does_not_compile_fails_with_its_first_error(tmp_path):
    text = TEXT.replace("Dense(64, activation=relu)", "Dense(64, activation=rleu)")
    outcome = run_trial(text, tmp_path / "run", source_name="digits.nns")
    assert outcome.status == "failed" and outcome.epochs == []
    assert outcome.error.startswith(f"{tmp_path / 'run' / 'spec.nns'}:")
    assert "error: Dense: argument 'activation': unknown activation 'rleu'" in outcome.error
    assert (tmp_path / "run" / "spec.nns").read_text() == text
    assert json.loads((tmp_path / "run" / "run.json").read_text())["outcome"] == f"failed: {outcome.error}"


HUGE = """model huge {
    Input([64])
    Rescaling(1 / 16)
    Dense(8, activation=relu)
    Dense(100000000000000, activation=relu)  # 8 x 10**14 weights: petabytes, more than any address space
    Dense(10)
}
train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = adam
    epochs = 1
    seed = 1
    data = digits
}
"""


def test_a_point_too_large_for_memory_fails_instead_of_crashing_the_study(tmp_path):
    outcome = run_trial(HUGE, tmp_path / "run", source_name="huge.nns")
    assert outcome.status == "failed"
    assert outcome.error.startswith("out of memory: ") and "\n" not in outcome.error
    assert json.loads((tmp_path / "run" / "run.json").read_text())["outcome"] == f"failed: {outcome.error}"


def test_data_over_the_budget_fails_the_trial(tmp_path, monkeypatch):
    monkeypatch.setenv("NNSPEC_DATA_BUDGET", "1M")
    text = HUGE.replace("Dense(100000000000000, activation=relu)", "Dense(8)").replace("Input([64])", "Input([2])")
    text = text.replace("data = digits", "data = spirals(n_samples=1000000, classes=10)")
    outcome = run_trial(text, tmp_path / "run", source_name="spirals.nns")
    assert outcome.status == "failed"
    assert "more than the data budget of 1 MiB" in outcome.error


def test_should_stop_interrupts_with_a_checkpoint_that_nnspec_train_resume_continues(pair, tmp_path):
    trained, _, _ = pair
    polls = []

    def should_stop():
        polls.append(1)
        return len(polls) > 60  # inside epoch 2 (45 steps an epoch)

    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted, match="interrupted at epoch 2, after step 60"):
        run_trial(TEXT, run_dir, source_name=str(ROOT / "specs" / "digits_mlp.nns"), should_stop=should_stop)
    info = json.loads((run_dir / "run.json").read_text())
    assert info["outcome"] == "interrupted: interrupted at epoch 2, after step 60"
    state, _, _, _ = load_checkpoint(run_dir)
    assert (state.epoch, state.step) == (1, 60)
    lock_run_dir(run_dir).release()  # the trial gave its lock back
    result = runner.invoke(app, ["train", str(run_dir / "spec.nns"), "--resume", str(run_dir), "-q"])
    assert result.exit_code == 0, result.output
    a, b = load_weights(trained / "weights.npz"), load_weights(run_dir / "weights.npz")
    assert all(np.array_equal(a[k], b[k]) for k in a)  # as if never interrupted
    assert without(json.loads((run_dir / "history.json").read_text())) == \
        without(json.loads((trained / "history.json").read_text()))


def test_a_keyboard_interrupt_inside_a_trial_raises_interrupted_and_keeps_the_last_checkpoint(tmp_path):
    def report(epoch, logs):
        if epoch == 2:
            raise KeyboardInterrupt
        return False

    run_dir = tmp_path / "run"
    with pytest.raises(Interrupted, match="interrupted at epoch 3"):
        run_trial(TEXT, run_dir, source_name=str(ROOT / "specs" / "digits_mlp.nns"), report=report)
    state, _, _, _ = load_checkpoint(run_dir)
    assert (state.epoch, state.batch) == (1, 0)  # epoch 1's checkpoint: epoch 2's was never written
    lock_run_dir(run_dir).release()


def test_trials_share_a_loaded_dataset_until_its_file_or_the_budget_changes(tmp_path, monkeypatch):
    """``runtime.dataset_cache``: a search's trials load the data once; a changed file is read anew, and a
    data budget set since is obeyed."""
    from runtime.data import DataError
    from runtime.dataset_cache import cached_dataset

    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(40, 2)), y=rng.integers(0, 3, 40))
    spec = compile_text('model m { Input([2]) Dense(3) }\n'
                        'train { loss = sparse_categorical_crossentropy(from_logits=true) optimizer = adam '
                        'seed = 1 data = "d.npz" }').spec
    first = cached_dataset(spec, base_dir=tmp_path)
    assert cached_dataset(spec, base_dir=tmp_path) is first
    np.savez(tmp_path / "d.npz", x=rng.normal(size=(50, 2)), y=rng.integers(0, 3, 50))
    second = cached_dataset(spec, base_dir=tmp_path)
    assert second is not first and second.n_train == 50
    monkeypatch.setenv("NNSPEC_DATA_BUDGET", "100")
    with pytest.raises(DataError, match="data budget"):
        cached_dataset(spec, base_dir=tmp_path)
