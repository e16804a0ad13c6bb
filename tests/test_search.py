"""``nnspec search``: a study over a spec's space on Optuna — reproducible, every trial a run directory,
failures recorded, grid enumeration, worker processes, results.csv and best.nns, and its errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from search_cases import DIGITS_SPACE, DIVERGING_SPACE, GRID_SPACE, write_spec

runner = CliRunner()


def search(*args: str):
    return runner.invoke(app, ["search", *map(str, args)])


def results(out: Path) -> list[dict]:
    with open(out / "results.csv", newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def by_trial(rows: list[dict], drop=("duration_s",)) -> list[dict]:
    return sorted(({k: v for k, v in r.items() if k not in drop} for r in rows), key=lambda r: int(r["trial"]))


@pytest.fixture(scope="module")
def digits_study(tmp_path_factory):
    """One 3-trial search of the digits space (2 epochs), shared by the tests that only read it."""
    root = tmp_path_factory.mktemp("digits")
    spec = write_spec(root, DIGITS_SPACE)
    out = root / "study"
    result = search(spec, "--trials", 3, "--seed", 0, "--pruner", "none", "--out", out)
    assert result.exit_code == 0, result.output
    return spec, out, result.output


def test_a_seeded_search_repeats_its_trials_params_and_values(digits_study, tmp_path):
    spec, out, _ = digits_study
    again = tmp_path / "again"
    result = search(spec, "--trials", 3, "--seed", 0, "--pruner", "none", "--out", again)
    assert result.exit_code == 0, result.output
    drop = ("duration_s", "run_dir")
    first, second = by_trial(results(out), drop), by_trial(results(again), drop)
    assert first == second
    assert len({json.dumps({k: v for k, v in r.items() if k not in ("trial", "value")}) for r in first}) > 1, \
        "the trials should be different points"


def test_every_trial_is_a_run_directory_and_results_csv_lists_them(digits_study):
    spec, out, output = digits_study
    rows = results(out)
    assert [r["trial"] for r in by_trial(rows)] == ["0", "1", "2"]
    assert {"trial", "state", "value", "duration_s", "run_dir", "error", "units", "model.repeat[0].count",
            "train.optimizer"} <= set(rows[0])
    values = [float(r["value"]) for r in rows if r["state"] == "complete"]
    assert values == sorted(values), "results.csv lists the best (smallest val_loss) first"
    for r in rows:
        run = out / r["run_dir"]
        assert r["run_dir"] == f"trials/{int(r['trial']):04d}"
        assert {"spec.nns", "run.json", "weights.npz", "history.json"} <= {p.name for p in run.iterdir()}
        assert not list(run.glob("*.png")), "trials' run directories have no per-run plots"
        history = json.loads((run / "history.json").read_text())
        if r["state"] == "complete":  # the value is val_loss (the default metric) at the epoch kept: the last
            assert float(r["value"]) == pytest.approx(history[-1]["val_loss"], rel=1e-12)
        spec_text = (run / "spec.nns").read_text()
        assert "choice(" not in spec_text and "_range(" not in spec_text and "epochs = 2" in spec_text
    info = json.loads((out / "study.json").read_text())
    assert info["metric"] == "val_loss" and info["direction"] == "minimize" and info["trials"] == 3
    assert info["sampler"] == "tpe" and info["pruner"] == "none" and info["seed"] == 0
    assert info["fingerprint"] and (out / "space.nns").read_text() == DIGITS_SPACE
    assert (out / "history.png").exists() and ((out / "parallel.png").exists() or (out / "slice.png").exists())
    assert "best val_loss" in output and "best.nns" in output


def test_best_nns_is_the_best_trials_spec_and_retrains_to_its_weights_and_value(digits_study, tmp_path):
    from compiler.pipeline import compile_text
    from compiler.space import space_of

    spec, out, _ = digits_study
    best = min((r for r in results(out) if r["state"] == "complete"), key=lambda r: float(r["value"]))
    text = (out / "best.nns").read_text()
    assert f"trial {best['trial']}" in text and "study" in text.splitlines()[0]
    assert not space_of(text), "best.nns has no dimension left"
    compile_text(text)
    trial_spec = (out / best["run_dir"] / "spec.nns").read_text()
    strip = lambda t: [line for line in t.splitlines() if not line.startswith("#")]  # noqa: E731
    assert strip(text) == strip(trial_spec)
    retrained = tmp_path / "retrained"
    result = runner.invoke(app, ["train", str(out / "best.nns"), "--out", str(retrained), "-q"])
    assert result.exit_code == 0, result.output
    with np.load(retrained / "weights.npz") as a, np.load(out / best["run_dir"] / "weights.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
    history = json.loads((retrained / "history.json").read_text())
    assert history[-1]["val_loss"] == float(best["value"])


def test_failed_trials_are_recorded_and_the_study_goes_on(tmp_path):
    spec = write_spec(tmp_path, DIVERGING_SPACE)
    out = tmp_path / "study"
    result = search(spec, "--sampler", "grid", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    rows = {r["train.optimizer.learning_rate"]: r for r in results(out)}
    assert rows["0.01"]["state"] == "complete" and rows["1000000000000.0"]["state"] == "failed"
    failed = [rows["1000000000000.0"]]
    assert "diverge" in failed[0]["error"] and failed[0]["value"] == ""
    assert (out / failed[0]["run_dir"] / "run.json").exists()
    assert "1 failed" in result.output and (out / "best.nns").exists()


def test_grid_enumerates_a_finite_space(tmp_path):
    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "grid"
    result = search(spec, "--sampler", "grid", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    rows = results(out)
    points = {(r["model.dense.units"], r["model.dense.activation"]) for r in rows}
    assert points == {("8", "relu"), ("8", "tanh"), ("16", "relu"), ("16", "tanh")}
    assert json.loads((out / "study.json").read_text())["trials"] == 4


def test_grid_is_refused_for_a_continuous_space(tmp_path):
    spec = write_spec(tmp_path, DIGITS_SPACE)
    result = search(spec, "--sampler", "grid", "--out", tmp_path / "g")
    assert result.exit_code == 2
    assert "--sampler grid" in result.output and "continuous" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "g" / "study.json").exists()


def test_cmaes_says_once_that_it_samples_categorical_dimensions_independently(tmp_path):
    spec = write_spec(tmp_path, GRID_SPACE)
    result = search(spec, "--sampler", "cmaes", "--trials", 2, "--out", tmp_path / "c")
    assert result.exit_code == 0, result.output
    assert result.output.count("sampled independently") == 1
    assert "model.dense.units" in result.output


def test_two_worker_processes_share_the_default_sqlite_study(tmp_path):
    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "jobs"
    result = search(spec, "--jobs", 2, "--trials", 4, "--sampler", "random", "--pruner", "none", "--out", out)
    assert result.exit_code == 0, result.output
    rows = results(out)
    assert sorted(int(r["trial"]) for r in rows) == [0, 1, 2, 3]
    assert all(r["state"] == "complete" for r in rows)
    assert all((out / r["run_dir"] / "run.json").exists() for r in rows)
    assert "4/4 trials" in result.output


def test_a_pruned_trial_stops_after_the_epoch_the_pruner_says(tmp_path):
    """The objective reports the metric after every epoch; a pruner that prunes at once stops each trial
    after its first epoch, recorded as pruned, its run directory complete."""
    import optuna

    from compiler.space import space_of
    from tools.search.objective import Objective, TrialSettings
    from tools.search.study import run_worker

    class PruneAtOnce(optuna.pruners.BasePruner):
        def prune(self, study, trial):
            return True

    space = space_of(GRID_SPACE.replace("epochs = 1", "epochs = 3"), str(tmp_path / "space.nns"))
    study = optuna.create_study(pruner=PruneAtOnce(), sampler=optuna.samplers.RandomSampler(seed=0))
    settings = TrialSettings(out=tmp_path, spec_path=tmp_path / "space.nns", study_name="s", metric="val_loss",
                             asked=2)
    assert run_worker(study, space, Objective(space, settings), asked=2) == "done"
    trials = study.get_trials()
    assert [t.state.name for t in trials] == ["PRUNED", "PRUNED"]
    for t in trials:
        assert list(t.intermediate_values) == [1]
        run = json.loads((tmp_path / t.user_attrs["run_dir"] / "run.json").read_text())
        assert "pruned" in run["outcome"]
        assert len(json.loads((tmp_path / t.user_attrs["run_dir"] / "history.json").read_text())) == 1


@pytest.mark.parametrize("args, message", [
    (["--storage", "postgresql://me:s3cret@127.0.0.1:1/db"], "cannot open storage postgresql://me:***@127.0.0.1:1/db"),
    (["--storage", "nonsense"], "not a database URL"),
    (["--storage", "journal:/no/such/dir/study.log"], "does not exist"),
    (["--device", "cuda"], "cuda"),
    (["--metric", "val_nonsense", "--trials", "1"], "--metric val_nonsense"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, args, message):
    spec = write_spec(tmp_path, GRID_SPACE)
    result = search(spec, "--out", tmp_path / "s", *args)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert "s3cret" not in result.output
    assert not (tmp_path / "s").exists(), "nothing is written"


def test_a_spec_without_dimensions_is_refused(tmp_path):
    result = search("specs/digits_mlp.nns", "--out", tmp_path / "s")
    assert result.exit_code == 2
    assert "no search dimensions" in result.output


def test_an_existing_study_directory_needs_resume(tmp_path):
    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "s"
    assert search(spec, "--trials", 1, "--out", out, "-q").exit_code == 0
    result = search(spec, "--trials", 1, "--out", out)
    assert result.exit_code == 2 and "--resume" in result.output


def test_the_median_pruner_never_prunes_in_the_warmup_epochs_nor_the_first_trials():
    """A trial far worse than every other is not pruned at epoch 1 (nor in the first tenth of its epochs),
    nor while the study has fewer than 5 trials; after that it is."""
    import optuna

    from tools.search.pruners import STARTUP_TRIALS, make_pruner, warmup_epochs

    epochs = 30
    assert warmup_epochs(epochs) == 3 and warmup_epochs(5) == 1
    study = optuna.create_study(pruner=make_pruner("median", epochs))
    good = {step: 1.0 for step in range(1, epochs + 1)}

    def bad_trial_prunes_at(step: int) -> bool:
        trial = study.ask()
        trial.report(100.0, step)
        pruned = trial.should_prune()
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        return pruned

    for i in range(STARTUP_TRIALS):
        assert not bad_trial_prunes_at(epochs), "pruned among the first trials"
        study.add_trial(optuna.trial.create_trial(value=1.0, intermediate_values=good))
    for step in range(1, warmup_epochs(epochs) + 1):
        assert not bad_trial_prunes_at(step), f"pruned at epoch {step}"
    assert bad_trial_prunes_at(warmup_epochs(epochs) + 1)


def test_timeout_starts_no_trial_after_it(tmp_path):
    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "t"
    result = search(spec, "--timeout", 0, "--out", out)
    assert result.exit_code == 0, result.output
    assert "search ended (timeout): 0/" in result.output and "no trial completed" in result.output
    assert not (out / "best.nns").exists() and results(out) == []


@pytest.mark.parametrize("args, message", [
    ([], "give a SPEC"),
    (["--resume"], "--resume needs --out DIR"),
    (["--dashboard"], "--dashboard goes with --show"),
])
def test_a_search_without_what_it_needs_is_one_line(args, message):
    result = search(*args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_best_nns_and_trials_find_a_data_file_beside_the_search_spec_from_anywhere(tmp_path, monkeypatch):
    """A search spec names ``data = "small.npz"`` beside it; the study goes elsewhere; every trial trains on
    that file, and ``nnspec train OUT/best.nns`` run from another folder loads it and reproduces the trial."""
    rng = np.random.default_rng(0)
    specs, out, elsewhere = tmp_path / "specs", tmp_path / "runs" / "study", tmp_path / "elsewhere"
    specs.mkdir()
    elsewhere.mkdir()
    np.savez(specs / "small.npz", x=rng.normal(size=(120, 4)), y=rng.integers(0, 3, size=120))
    text = GRID_SPACE.replace("Input([64])\n    Rescaling(1 / 16)", "Input([4])").replace("Dense(10)", "Dense(3)")
    spec = write_spec(specs, text.replace("data = digits", 'data = "small.npz"'))
    result = search(spec, "--trials", 2, "--sampler", "random", "--out", out, "-q")
    assert result.exit_code == 0, result.output
    best = min((r for r in results(out) if r["state"] == "complete"), key=lambda r: float(r["value"]))
    assert json.loads((out / best["run_dir"] / "run.json").read_text())["train_samples"] == 96
    monkeypatch.chdir(elsewhere)
    retrained = elsewhere / "retrained"
    result = runner.invoke(app, ["train", str(out / "best.nns"), "--out", str(retrained), "-q"])
    assert result.exit_code == 0, result.output
    with np.load(retrained / "weights.npz") as a, np.load(out / best["run_dir"] / "weights.npz") as b:
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])


def test_a_finished_study_is_one_self_contained_sqlite_file(tmp_path):
    """SQLite's write-ahead log is folded into study.db when the search process ends: no -wal/-shm file
    stays beside it, so copying (or committing) study.db alone keeps every trial."""
    import subprocess
    import sys

    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "study"
    done = subprocess.run([sys.executable, "-c", "import cli; cli.main()", "search", str(spec), "--trials", "2", "--sampler", "random",
                           "--pruner", "none", "--quiet", "--out", str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert (out / "study.db").exists()
    assert not list(out.glob("study.db-*"))
    import optuna

    copy = tmp_path / "copy.db"
    copy.write_bytes((out / "study.db").read_bytes())
    study = optuna.load_study(study_name=json.loads((out / "study.json").read_text())["study_name"],
                              storage=f"sqlite:///{copy}")
    assert len(study.trials) == 2


@pytest.mark.parametrize("pruner, reported", [("none", []), ("median", [2, 3, 4]), ("hyperband", [1, 2, 3, 4])])
def test_a_trial_reports_only_the_epochs_its_pruner_reads(tmp_path, pruner, reported):
    """A report is a storage write per epoch: made only where the pruner reads it — never without a pruner,
    from the first epoch after the median pruner's warm-up (max(1, 4 // 10) = 1 epoch of 4), every epoch
    for Hyperband."""
    import optuna

    from compiler.space import space_of
    from tools.search.objective import Objective, TrialSettings
    from tools.search.pruners import make_pruner
    from tools.search.study import run_worker

    space = space_of(GRID_SPACE.replace("epochs = 1", "epochs = 4"), str(tmp_path / "space.nns"))
    study = optuna.create_study(pruner=make_pruner(pruner, 4), sampler=optuna.samplers.RandomSampler(seed=0))
    settings = TrialSettings(out=tmp_path, spec_path=tmp_path / "space.nns", study_name="s", metric="val_loss",
                             asked=1, pruner=pruner, trial_epochs=4)
    assert run_worker(study, space, Objective(space, settings), asked=1) == "done"
    (trial,) = study.get_trials()
    assert trial.state.name == "COMPLETE"
    assert sorted(trial.intermediate_values) == reported


@pytest.mark.parametrize("backend", ["torch", "keras"])
def test_a_search_on_the_framework_backends_and_its_best_nns_retrains_to_the_trials_weights(tmp_path, backend):
    """--backend reaches every trial (run.json says so), and best.nns retrained with `nnspec train --backend`
    on that backend gives the best trial's weights bit for bit, as on NumPy."""
    from frameworks import need

    need(backend)
    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "study"
    result = search(spec, "--backend", backend, "--trials", 2, "--sampler", "random", "--out", out)
    assert result.exit_code == 0, result.output
    rows = results(out)
    assert [r["state"] for r in rows] == ["complete", "complete"]
    best = rows[0]  # results.csv lists the best first
    assert json.loads((out / best["run_dir"] / "run.json").read_text())["backend"] == backend
    retrained = tmp_path / "retrained"
    done = runner.invoke(app, ["train", str(out / "best.nns"), "--backend", backend, "--out", str(retrained), "-q"])
    assert done.exit_code == 0, done.output
    with np.load(retrained / "weights.npz") as a, np.load(out / best["run_dir"] / "weights.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
