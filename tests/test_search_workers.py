"""Several `nnspec search` processes share one study, as the issue promises for many cores and many machines.

- Many machines: two `nnspec search` processes started by hand, each with its own `--out`, on one study of
  a real PostgreSQL server (`--storage postgresql://… --study-name X`; the server is private to the test
  session: tests/postgres_server.py, skipped with the reason where PostgreSQL cannot run here).
- Many cores: `--jobs 2` on the default SQLite storage and on `journal:` storage.

In each case the study ends with exactly the asked trials done between the workers (a trial a worker starts
once the others hold the last asked ones is a failed "surplus" trial that trains nothing), every trial number
once, each trial a complete run directory (run.json, weights, the trial's concrete spec), and both workers
ran trials (by hand: each --out holds some; --jobs: two trials ran at the same time). The space is the
digits MLP with the units, the dropout rate and the learning rate searched; 1 epoch a trial by hand (both
processes start alike), 30 under --jobs (a trial then lasts longer than a worker process takes to start, so
the worker that starts second always finds trials left).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from postgres_server import postgres_url  # noqa: F401 - the fixture

ROOT = Path(__file__).resolve().parent.parent
TRIALS = 4
JOBS_EPOCHS = 30  # --jobs: this process starts trials at once, its worker after its imports (a few seconds)
RUN_TIMEOUT_S = 240  # a hang guard only

SPACE = """\
model digits_mlp {
    Input([64])
    Rescaling(1 / 16)
    Dense(choice(32, 64), activation=relu)
    Dropout(float_range(0.0, 0.5))
    Dense(10)
}

train {
    loss = sparse_categorical_crossentropy(from_logits=true)
    optimizer = adam(learning_rate=log_range(1e-4, 1e-2))
    batch_size = 32
    epochs = 1
    seed = 42
    metrics = [accuracy]
    validation_split = 0.2
    data = digits
}
"""


def nnspec(*args) -> list[str]:
    return [sys.executable, "-c", "from cli import main; main()", *map(str, args)]


def search_args(spec: Path, out: Path, *more, epochs: int = 1) -> list[str]:
    return nnspec("search", spec, "--trials", TRIALS, "--epochs", epochs, "--sampler", "random", "--pruner", "none",
                  "--out", out, "--quiet", *more)


def finished(done: subprocess.CompletedProcess | subprocess.Popen, out: str = "") -> None:
    stdout, stderr = out or getattr(done, "stdout", ""), getattr(done, "stderr", "")
    assert done.returncode == 0, f"exit {done.returncode}\n{stdout}\n{stderr}"


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "digits_space.nns"
    path.write_text(SPACE)
    return path


def trials_in(storage, name: str | None = None) -> list:
    """The study's trials (the only study in ``storage`` unless ``name``)."""
    import optuna

    if name is None:
        (name,) = optuna.study.get_all_study_names(storage)
    return optuna.load_study(study_name=name, storage=storage).get_trials(deepcopy=False)


def assert_study_done(trials: list, run_dirs: dict[int, Path]) -> None:
    """Trial numbers 0..n-1 once each; exactly the asked trials taken, all complete, each with its run
    directory holding its concrete point; any other trial is a surplus one (started by a worker while the
    last asked ones ran, stopped before training: failed, marked ``surplus``, no run directory)."""
    import optuna

    numbers = [t.number for t in trials]
    assert sorted(numbers) == list(range(len(trials))), numbers
    taken = [t for t in trials if not t.user_attrs.get("surplus")]
    assert len(taken) == TRIALS, [(t.number, t.state.name, t.user_attrs) for t in trials]
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in taken), [(t.number, t.state) for t in taken]
    assert all(t.state == optuna.trial.TrialState.FAIL for t in trials if t not in taken)
    assert sorted(run_dirs) == sorted(t.number for t in taken)
    for trial in taken:
        run_dir = run_dirs[trial.number]
        assert trial.user_attrs["run_dir"] == f"trials/{run_dir.name}"
        info = json.loads((run_dir / "run.json").read_text())
        assert info["seed"] == 42 and (run_dir / "weights.npz").is_file()
        spec_text = (run_dir / "spec.nns").read_text()
        assert "range(" not in spec_text and "choice(" not in spec_text  # the trial's concrete point
        assert f"Dense({trial.params['model.dense.units']}" in spec_text


def ran_at_once(trials: list) -> bool:
    """Whether two trials of the study trained at the same time (two workers at work; surplus ones do not
    train)."""
    spans = sorted((t.datetime_start, t.datetime_complete) for t in trials
                   if t.datetime_complete is not None and not t.user_attrs.get("surplus"))
    return any(later[0] < earlier[1] for earlier, later in zip(spans, spans[1:]))


def run_dirs_of(out: Path) -> dict[int, Path]:
    return {int(d.name): d for d in (out / "trials").iterdir() if d.is_dir()} if (out / "trials").is_dir() else {}


def test_two_search_processes_started_by_hand_share_a_postgresql_study(spec, tmp_path, postgres_url):
    """The many-machines path: the same command on two "machines" (processes), one shared PostgreSQL study."""
    outs = [tmp_path / "machine_a", tmp_path / "machine_b"]
    workers = [subprocess.Popen(search_args(spec, out, "--storage", postgres_url, "--study-name", "shared"),
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for out in outs]
    for w in workers:
        output, _ = w.communicate(timeout=RUN_TIMEOUT_S)
        finished(w, output)
    mine = [run_dirs_of(out) for out in outs]
    assert mine[0] and mine[1], f"one worker ran every trial: {[sorted(m) for m in mine]}"
    assert not set(mine[0]) & set(mine[1]), "two workers ran the same trial number"
    assert_study_done(trials_in(postgres_url, "shared"), {**mine[0], **mine[1]})


def test_jobs_2_completes_the_study_on_the_default_sqlite_storage(spec, tmp_path):
    out = tmp_path / "study"
    done = subprocess.run(search_args(spec, out, "--jobs", 2, epochs=JOBS_EPOCHS), cwd=ROOT, capture_output=True,
                          text=True, timeout=RUN_TIMEOUT_S)
    finished(done)
    trials = trials_in(f"sqlite:///{out / 'study.db'}")
    assert_study_done(trials, run_dirs_of(out))
    assert ran_at_once(trials), "the two workers never ran trials at the same time"
    assert (out / "best.nns").is_file() and (out / "results.csv").is_file()


def test_jobs_2_completes_the_study_on_journal_storage(spec, tmp_path):
    from optuna.storages.journal import JournalFileBackend, JournalStorage

    out, journal = tmp_path / "study", tmp_path / "journal.log"
    done = subprocess.run(search_args(spec, out, "--jobs", 2, "--storage", f"journal:{journal}",
                                      epochs=JOBS_EPOCHS), cwd=ROOT,
                          capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    finished(done)
    assert not (out / "study.db").exists()
    trials = trials_in(JournalStorage(JournalFileBackend(str(journal))))
    assert_study_done(trials, run_dirs_of(out))
    assert ran_at_once(trials), "the two workers never ran trials at the same time"
