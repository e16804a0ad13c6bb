"""Hostile input to ``nnspec search``, ``--show`` and ``nnspec fix --trial``: crafted storages and study
directories, options out of range, places to write that hold other files. Each is one line (exit 2), never a
traceback, never code run from the storage, never a file of the user's overwritten or a foreign database
altered, never a hang."""

from __future__ import annotations

import json
import pickle
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from search_cases import GRID_SPACE, write_spec

runner = CliRunner()


def search(*args):
    return runner.invoke(app, ["search", *map(str, args)])


def one_line_error(result, *words: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output
    for word in words:
        assert word in result.output, result.output


def snapshot(directory: Path) -> dict:
    return {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A one-trial grid study, with two crafted trials added to its storage: markup, ANSI escapes, line
    breaks and a path-escaping run_dir in their attrs, and a parameter that is not in the space."""
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    root = tmp_path_factory.mktemp("hostile")
    spec = write_spec(root, GRID_SPACE)
    out = root / "study"
    result = search(spec, "--sampler", "grid", "--trials", 1, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    stored = optuna.load_study(study_name="study", storage=f"sqlite:///{out / 'study.db'}")
    hostile = "[link=http://evil]x[/link]\x1b[31m"
    stored.add_trial(optuna.trial.create_trial(
        params={"model.dense.units": 8, hostile: hostile},
        distributions={"model.dense.units": CategoricalDistribution((8, 16)),
                       hostile: CategoricalDistribution((hostile,))},
        state=optuna.trial.TrialState.FAIL,
        user_attrs={"error": "[/nope] [red]boom[/red]\x1b[2J\nsecond line", "run_dir": "../../etc"}))
    stored.add_trial(optuna.trial.create_trial(
        params={"model.dense.units": 8, "not.a.dimension": 1.5},
        distributions={"model.dense.units": CategoricalDistribution((8, 16)),
                       "not.a.dimension": FloatDistribution(0.0, 2.0)}, value=9.0))
    return spec, out


# --- code from the storage -------------------------------------------------------------------------------

class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_cmaes_state_in_the_storage_is_never_unpickled_into_code(tmp_path, capsys):
    """Optuna's CmaEsSampler unpickles its optimizer from the trials' system attrs: a crafted storage's
    pickle is refused (nothing runs, CMA-ES starts afresh, a note says so); a genuine state still loads."""
    import cmaes
    import numpy as np
    import optuna

    from compiler.space import space_of
    from tools.search.samplers import make_sampler

    space = space_of(GRID_SPACE.replace("Dense(choice(8, 16), activation=choice(relu, tanh))",
                                        "Dense(int_range(4, 32))"))
    sampler = make_sampler("cmaes", space, 0).sampler
    marker = tmp_path / "pwned"
    key = sampler._attr_key_optimizer + ":0"

    def trial_with(state_hex: str):
        return optuna.trial.create_trial(params={}, distributions={}, value=1.0,
                                         system_attrs={key: state_hex})

    assert sampler._restore_optimizer([trial_with(pickle.dumps(_Payload(marker)).hex())]) is None
    assert not marker.exists(), "the storage's pickle ran code"
    assert "not one nnspec reads" in capsys.readouterr().err
    assert sampler._restore_optimizer([trial_with("zz-not-hex")]) is None
    genuine = cmaes.CMA(mean=np.zeros(2), sigma=1.0)
    restored = sampler._restore_optimizer([trial_with(pickle.dumps(genuine).hex())])
    assert isinstance(restored, cmaes.CMA) and restored.generation == genuine.generation


# --- databases and directories that are not the study's -------------------------------------------------

def test_a_database_holding_other_tables_is_refused_and_left_alone(tmp_path):
    spec = write_spec(tmp_path, GRID_SPACE)
    db = tmp_path / "mine.db"
    with sqlite3.connect(db) as connection:
        connection.execute("create table precious (x)")
    before = db.read_bytes()
    result = search(spec, "--storage", f"sqlite:///{db}", "--out", tmp_path / "s", "-q")
    one_line_error(result, "not Optuna's", "precious")
    assert db.read_bytes() == before and not (tmp_path / "s").exists()


@pytest.mark.parametrize("content", [b"\x00garbage" * 500, b"SQLite format 3\x00" + b"\x07" * 100],
                         ids=["random-bytes", "truncated"])
def test_a_corrupt_study_db_is_one_line(tmp_path, content):
    spec = write_spec(tmp_path, GRID_SPACE)
    db = tmp_path / "broken.db"
    db.write_bytes(content)
    one_line_error(search(spec, "--storage", f"sqlite:///{db}", "--out", tmp_path / "s", "-q"), "cannot open storage")
    assert db.read_bytes() == content


@pytest.mark.parametrize("where", ["other-files", "spec-folder"])
def test_out_among_other_files_is_refused_and_nothing_is_written(tmp_path, where):
    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "mine"
    if where == "other-files":
        out.mkdir()
        (out / "results.csv").write_text("precious\n")
    else:
        out = tmp_path
    before = snapshot(out)
    one_line_error(search(spec, "--out", out, "-q"), "holds files and no study")
    assert snapshot(out) == before


def test_another_study_name_in_a_study_directory_is_refused(study, tmp_path):
    spec, out = study
    before = (out / "study.json").read_bytes()
    one_line_error(search(spec, "--out", out, "--study-name", "another", "-q"), "holds the study 'study'")
    assert (out / "study.json").read_bytes() == before


# --- options out of range ------------------------------------------------------------------------------

def test_a_grid_too_large_to_enumerate_is_refused_at_once(tmp_path):
    huge = GRID_SPACE.replace("Dense(choice(8, 16), activation=choice(relu, tanh))",
                              "Dense(int_range(1, 1000000000))\n    Dense(int_range(1, 1000000000))")
    spec = write_spec(tmp_path, huge)
    one_line_error(search(spec, "--sampler", "grid", "--out", tmp_path / "s", "-q"), "more than it enumerates")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("args, words", [
    (["--seed", 2**70], ["--seed", "0..4,294,967,295"]),
    (["--seed", 2**32 - 1, "--jobs", 2], ["--seed"]),
    (["--study-name", ""], ["--study-name", "not empty"]),
    (["--study-name", "a\nb"], ["--study-name", "control characters"]),
    (["--study-name", "x" * 1000], ["--study-name", "at most 512"]),
    (["--metric", "\x1b[2J[red]" + "m" * 5000], ["--metric", "\\x1b[2J[red]", "not record"]),
])
def test_out_of_range_options_are_one_line_and_write_nothing(tmp_path, args, words):
    spec = write_spec(tmp_path, GRID_SPACE)
    result = search(spec, *args, "--out", tmp_path / "s", "-q")
    one_line_error(result, *words)
    assert not (tmp_path / "s").exists() and "\x1b" not in result.output and len(result.output) < 2000


# --- crafted study directories -------------------------------------------------------------------------

@pytest.mark.parametrize("text, words", [
    ("[1, 2]", ["not an object"]),
    ('{"spec": 1}', ["no study_name"]),
    ("{" + '"a":{' * 50000, ["not a study.json"]),
    (None, ["over 4 MiB"]),
], ids=["list", "missing", "deep", "huge"])
def test_a_garbage_study_json_is_one_line_for_resume_and_show(study, tmp_path, text, words):
    spec, out = study
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    (crafted / "study.json").write_text(text if text is not None else " " * (5 * 1024 * 1024))
    for args in (["--out", crafted, "--resume", "-q"], ["--show", crafted]):
        one_line_error(search(*args), "study.json", *words)


@pytest.mark.parametrize("field, value, words", [
    ("sampler", "__import__('os')", ["sampler"]), ("seed", 2**70, ["seed"]), ("trials", -5, ["trials"]),
    ("study_name", "a\x1b[2Jb", ["control characters"]), ("direction", "sideways", ["direction"]),
    ("timeout", "nan", ["timeout"]), ("fingerprint", [], ["fingerprint"]),
    ("spec", "/etc/passwd", ["not a .nns file"]), ("backend", "os", ["backend"]),
])
def test_hostile_values_in_study_json_are_refused_not_used(study, tmp_path, field, value, words):
    spec, out = study
    record = json.loads((out / "study.json").read_text())
    record[field] = value
    crafted = tmp_path / "crafted"
    crafted.mkdir()
    (crafted / "study.json").write_text(json.dumps(record))
    one_line_error(search("--out", crafted, "--resume", "-q"), "not a study.json nnspec wrote", *words)
    one_line_error(search("--show", crafted), "not a study.json nnspec wrote")


# --- what the storage says, shown ---------------------------------------------------------------------

def test_show_prints_markup_and_escapes_from_the_storage_literally(study):
    spec, out = study
    result = search("--show", out)
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output, "an escape sequence from the storage reached the terminal"
    assert "[/nope]" in result.output and "[red]boom[/red]" in result.output  # markup is text
    assert "[link=http://evil]" in result.output.replace("\n", "").replace("│", "").replace(" ", "")
    assert "\\x1b" in result.output and "\\n" in result.output  # escaped, visible


@pytest.mark.parametrize("number, words", [(-1, ["--trial"]), (10**30, ["no trial"]), ("x", ["--trial"]),
                                           (2, ["not.a.dimension"]), (1, [])])
def test_fix_of_a_crafted_or_absent_trial_is_one_line(study, number, words):
    spec, out = study
    result = runner.invoke(app, ["fix", str(spec), "--trial", str(number), "--study", str(out)])
    one_line_error(result, *words)


def _one_trial_study(tmp_path):
    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "s"
    result = search(spec, "--sampler", "random", "--trials", 1, "--out", out, "-q")
    assert result.exit_code == 0, result.output
    return spec, out


def test_a_crafted_best_trial_never_becomes_best_nns(tmp_path):
    import optuna
    from optuna.distributions import CategoricalDistribution, FloatDistribution

    spec, out = _one_trial_study(tmp_path)
    stored = optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}")
    stored.add_trial(optuna.trial.create_trial(
        params={"model.dense.units": 8, "not.a.dimension": 1.5}, value=-5.0,
        distributions={"model.dense.units": CategoricalDistribution((8, 16)),
                       "not.a.dimension": FloatDistribution(0.0, 2.0)}))
    result = search("--out", out, "--resume", "--trials", 2, "-q")
    assert result.exit_code == 0, result.output
    assert "trial 1's parameters are not a point of this space" in result.output
    assert "trial 1 " not in (out / "best.nns").read_text() and "not.a.dimension" not in (out / "best.nns").read_text()


def test_disk_full_while_writing_the_results_is_one_line_and_the_study_survives(tmp_path, monkeypatch):
    import errno

    from write_faults import failing_writes

    spec, out = _one_trial_study(tmp_path)
    before = (out / "results.csv").read_bytes()
    failing_writes(monkeypatch, out, errno.ENOSPC, names=("results.csv",))
    result = search("--out", out, "--resume", "--trials", 2, "-q")
    assert result.exit_code == 74, result.output
    assert "results.csv" in result.output and "--resume writes the results again" in result.output
    assert "Traceback" not in result.output and (out / "results.csv").read_bytes() == before
    monkeypatch.undo()
    assert search("--out", out, "--resume", "-q").exit_code == 0
    assert len((out / "results.csv").read_text().splitlines()) == 3  # header + both trials


@pytest.mark.parametrize("url", ["postgresql://me:se@cr/et@127.0.0.1:1/db",
                                 "postgresql://me@127.0.0.1:1/db?password=secret-et&sslmode=disable"])
def test_a_storage_that_does_not_answer_is_one_line_with_its_password_masked(tmp_path, url):
    spec = write_spec(tmp_path, GRID_SPACE)
    result = search(spec, "--storage", url, "--out", tmp_path / "s", "-q")
    one_line_error(result, "cannot open storage", "***")
    assert "cr/et" not in result.output and "secret-et" not in result.output and "se@" not in result.output
    assert not (tmp_path / "s").exists()


def test_show_of_a_large_study_lists_its_best_trials_and_says_how_many_more(study, monkeypatch):
    import cli.search_show

    spec, out = study
    monkeypatch.setattr(cli.search_show, "SHOW_ROWS", 1)
    result = search("--show", out)
    assert result.exit_code == 0, result.output
    assert "2 more trials not shown" in result.output
    assert sum(1 for line in result.output.splitlines() if "failed" in line and "│" in line) == 0


def test_a_killed_workers_running_trial_is_failed_not_left_running(tmp_path):
    """SIGKILL of a --jobs worker leaves its trial RUNNING in the storage; the parent marks it failed,
    naming the worker's pid, as soon as it sees the worker gone — and only that worker's trials."""
    import subprocess

    import optuna

    from tools.search.workers import fail_orphans

    study_ = optuna.create_study(study_name="s", storage=f"sqlite:///{tmp_path / 'x.db'}")
    killed = subprocess.Popen(["sh", "-c", "kill -9 $$"])
    killed.wait()
    alive = subprocess.Popen(["sleep", "30"])
    try:
        for pid in (killed.pid, alive.pid):
            study_.ask().set_user_attr("pid", pid)
        assert fail_orphans(study_, tmp_path, [killed, alive]) == [0]
    finally:
        alive.kill()
        alive.wait()
    trials = study_.get_trials()
    assert trials[0].state.name == "FAIL" and f"pid {killed.pid}" in trials[0].user_attrs["error"]
    assert trials[1].state.name == "RUNNING"


def test_more_jobs_than_the_machine_can_run_are_capped_with_a_note(monkeypatch):
    import os

    from cli.search_run import _capped_jobs

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert _capped_jobs(2) == 2 and _capped_jobs(4) == 4
    assert _capped_jobs(256) == 4


@pytest.mark.parametrize("field, value", [("trials", 10**12), ("timeout", float("inf"))])
def test_large_values_a_search_accepts_are_resumable(study, tmp_path, field, value):
    """What the options accept, study.json's check accepts: a study never becomes unresumable by its own
    settings."""
    from tools.search.study_dir import read_study_json

    spec, out = study
    record = json.loads((out / "study.json").read_text())
    record[field] = value
    crafted = tmp_path / "big"
    crafted.mkdir()
    (crafted / "study.json").write_text(json.dumps(record))
    assert getattr(read_study_json(crafted), field) == value


def test_a_relative_storage_is_recorded_absolute_so_resume_finds_it_from_anywhere(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, GRID_SPACE)
    monkeypatch.chdir(tmp_path)
    result = search(spec, "--storage", "sqlite:///mine.db", "--trials", 1, "--out", "s", "-q")
    assert result.exit_code == 0, result.output
    recorded = json.loads((tmp_path / "s" / "study.json").read_text())["storage"]
    assert recorded == f"sqlite:///{(tmp_path / 'mine.db').resolve()}"
    monkeypatch.chdir(tmp_path / "s")
    assert search("--out", ".", "--resume", "--trials", 2, "-q").exit_code == 0
    assert not (tmp_path / "s" / "mine.db").exists()


def test_dashboard_on_a_port_in_use_is_one_line_and_binds_loopback_only(study, monkeypatch):
    import socket

    import optuna_dashboard

    spec, out = study
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = search("--show", out, "--dashboard", "--port", busy.getsockname()[1])
    one_line_error(result, "--port", "127.0.0.1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    served = {}
    monkeypatch.setattr(optuna_dashboard, "run_server", lambda storage, host, port: served.update(host=host))
    assert search("--show", out, "--dashboard", "--port", free).exit_code == 0
    assert served == {"host": "127.0.0.1"}


def test_dimensions_named_like_the_tables_columns_hide_nothing(tmp_path):
    import csv

    clash = GRID_SPACE.replace("model digits_grid", "trial = choice(8, 16)\nerror = choice(relu, tanh)\n\n"
                               "model digits_grid").replace("Dense(choice(8, 16), activation=choice(relu, tanh))",
                                                            "Dense(trial, activation=error)")
    spec = write_spec(tmp_path, clash)
    out = tmp_path / "s"
    assert search(spec, "--sampler", "grid", "--trials", 2, "--out", out, "-q").exit_code == 0
    with open(out / "results.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert sorted(int(r["trial"]) for r in table) == [0, 1]
    assert {r["dim:error"] for r in table} <= {"relu", "tanh"} and all(r["dim:error"] for r in table)
    assert all(r["dim:trial"] in ("8", "16") and r["error"] == "" for r in table)


def test_fix_of_a_trial_with_a_huge_crafted_value_is_one_short_line(tmp_path):
    spec, out = _one_trial_study(tmp_path)
    huge = "\x1b[31m" + "x" * 100_000
    with sqlite3.connect(out / "study.db") as connection:
        connection.execute("update trial_params set distribution_json = ?, param_value = 0 where param_name = ?",
                           (json.dumps({"name": "CategoricalDistribution", "attributes": {"choices": [huge]}}),
                            "model.dense.units"))
    result = runner.invoke(app, ["fix", str(spec), "--trial", "0", "--study", str(out)])
    one_line_error(result, "model.dense.units")
    assert len(result.output) < 1000 and "\x1b" not in result.output


def test_workers_never_import_modules_from_the_current_folder(tmp_path, monkeypatch):
    """A ``--jobs`` worker is ``python -m MODULE``: a module of that name in the folder the search runs
    from (a planted ``cli/``) is not the one run."""
    from tools.search.workers import start_workers

    marker = tmp_path / "ran"
    (tmp_path / "planted_worker.py").write_text(f"open({str(marker)!r}, 'w').write('planted code ran')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PYTHONPATH", raising=False)
    (process,) = start_workers(tmp_path / "s", [1], "sqlite://", module="planted_worker")
    assert process.wait(timeout=60) != 0 and not marker.exists()


@pytest.mark.parametrize("damage", ["deleted", "other-study"])
def test_resume_without_the_studys_trials_is_refused_not_begun_again(tmp_path, damage):
    """A study.db deleted, or one that holds no study of that name: --resume says so; it never starts the
    study afresh over the old trials' run directories and results."""
    import optuna

    spec, out = _one_trial_study(tmp_path)
    for wal in out.glob("study.db*"):
        wal.unlink()
    if damage == "other-study":
        optuna.create_study(study_name="someone-else", storage=f"sqlite:///{out / 'study.db'}")
    before = snapshot(out)
    result = search("--out", out, "--resume", "--trials", 3, "-q")
    one_line_error(result, "nothing to resume")
    after = snapshot(out)
    assert {k: v for k, v in after.items() if not k.startswith("study.db")} == \
        {k: v for k, v in before.items() if not k.startswith("study.db")}


def test_a_new_study_in_the_same_directory_keeps_the_earlier_trials_run_directories(tmp_path):
    """--new-study continues in the same storage under NAME-2, whose trial numbers start at 0 again: its
    trials go to trials-2/, train, and leave trials/ as it was."""
    spec, out = _one_trial_study(tmp_path)
    before = snapshot(out / "trials")
    spec.write_text(GRID_SPACE.replace("choice(8, 16)", "choice(8, 32)"))
    result = search("--out", out, "--resume", "--trials", 1, "--new-study", "-q")
    assert result.exit_code == 0, result.output
    assert snapshot(out / "trials") == before
    assert (out / "trials-2" / "0000" / "weights.npz").exists()
    assert "trials-2/0000" in (out / "results.csv").read_text() and "failed" not in (out / "results.csv").read_text()


@pytest.mark.parametrize("content", ["my notes\nline 2\n", "{\"a\": 1}\n", "\udcff", "one line, no newline"],
                         ids=["text", "json", "bytes", "one-line"])
def test_a_journal_storage_on_a_file_that_is_not_a_journal_is_refused_and_left_alone(tmp_path, content):
    spec = write_spec(tmp_path, GRID_SPACE)
    path = tmp_path / "notes.txt"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    before = path.read_bytes()
    result = search(spec, "--storage", f"journal:{path}", "--out", tmp_path / "s", "-q")
    one_line_error(result, "not an Optuna journal file")
    assert path.read_bytes() == before and not (tmp_path / "s").exists()


@pytest.mark.parametrize("scheme", ["journal:", "sqlite:///"])
@pytest.mark.parametrize("kind", ["fifo", "directory", "device"])
def test_a_storage_that_is_not_a_regular_file_is_refused_without_hanging(tmp_path, scheme, kind):
    import os

    spec = write_spec(tmp_path, GRID_SPACE)
    path = {"fifo": tmp_path / "fifo", "directory": tmp_path / "dir", "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    one_line_error(search(spec, "--storage", f"{scheme}{path}", "--out", tmp_path / "s", "-q"), "not a regular file")
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("fingerprint", ["a string", {"dimensions": [1, "x", {"name": 5}], "hash": []}])
def test_a_crafted_fingerprint_is_a_changed_space_not_a_crash(tmp_path, fingerprint):
    import optuna

    spec, out = _one_trial_study(tmp_path)
    optuna.load_study(study_name="s", storage=f"sqlite:///{out / 'study.db'}").set_user_attr("fingerprint",
                                                                                           fingerprint)
    one_line_error(search("--out", out, "--resume", "--trials", 2, "-q"), "did not write")
    record = json.loads((out / "study.json").read_text())
    record["fingerprint"] = {"dimensions": [1, "x"], "hash": []}
    (out / "study.json").write_text(json.dumps(record))
    one_line_error(runner.invoke(app, ["fix", str(spec), "--trial", "0", "--study", str(out)]), "did not write")


def test_trials_in_the_storage_that_sample_the_space_otherwise_end_the_search_in_one_line(tmp_path):
    spec, out = _one_trial_study(tmp_path)
    with sqlite3.connect(out / "study.db") as connection:
        connection.execute("update trial_params set distribution_json = ?, param_value = 3.5 where param_name = ?",
                           (json.dumps({"name": "FloatDistribution", "attributes": {"low": 0.0, "high": 10.0,
                                                                                   "log": False, "step": None}}),
                            "model.dense.units"))
    result = search("--out", out, "--resume", "--trials", 3, "-q")
    one_line_error(result, "sample the space otherwise", "not a point of this space")
