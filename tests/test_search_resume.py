"""A study survives: ``--resume`` continues it (also after Ctrl-C, the interrupted trial not counted),
and a changed space is refused with what changed, or continued as a new study with ``--new-study``."""

from __future__ import annotations

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from typer.testing import CliRunner

from cli import app
from search_cases import DIGITS_SPACE, GRID_SPACE, write_spec

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def search(*args):
    return runner.invoke(app, ["search", *map(str, args)])


def trials_of(out: Path) -> list[dict]:
    from tools.search.study_dir import open_study

    info, study = open_study(out)
    return [{"number": t.number, "state": t.state.name, "attrs": t.user_attrs, "params": t.params}
            for t in study.get_trials()]


def test_resume_continues_the_study_to_the_trials_asked(tmp_path):
    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "s"
    assert search(spec, "--trials", 2, "--sampler", "random", "--out", out, "-q").exit_code == 0
    result = search("--out", out, "--resume", "--trials", 3, "-q")
    assert result.exit_code == 0, result.output
    trials = trials_of(out)
    assert [t["number"] for t in trials] == [0, 1, 2] and all(t["state"] == "COMPLETE" for t in trials)
    info = json.loads((out / "study.json").read_text())
    assert info["trials"] == 3 and info["sampler"] == "random"  # the study's own settings are kept
    with open(out / "results.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 3
    # a finished study resumed without more trials runs nothing
    again = search("--out", out, "--resume", "-q")
    assert again.exit_code == 0 and len(trials_of(out)) == 3


def test_a_changed_space_is_refused_with_what_changed_unless_new_study(tmp_path):
    spec = write_spec(tmp_path, GRID_SPACE)
    out = tmp_path / "s"
    assert search(spec, "--trials", 1, "--out", out, "-q").exit_code == 0
    spec.write_text(GRID_SPACE.replace("choice(8, 16)", "choice(8, 16, 32)"))
    refused = search(spec, "--out", out, "--resume", "--trials", 2)
    assert refused.exit_code == 2, refused.output
    assert "model.dense.units" in refused.output and "--new-study" in refused.output
    assert len(trials_of(out)) == 1, "nothing ran"
    result = search(spec, "--out", out, "--resume", "--trials", 1, "--new-study", "--sampler", "random")
    assert result.exit_code == 0, result.output
    info = json.loads((out / "study.json").read_text())
    assert info["study_name"] == f"{out.resolve().name}-2" and info["previous_studies"] == [out.resolve().name]
    assert "new study" in result.output
    trials = trials_of(out)  # the new study's: its own trial 0
    assert [t["number"] for t in trials] == [0]


def interrupt_when(process: subprocess.Popen, ready) -> str:
    """Send SIGINT to ``process`` once ``ready()`` holds (polled every 50 ms, up to ~2 minutes: a hang guard;
    the process must not end before), then wait for it to end; its output. The process is killed if it
    outlives the test."""
    try:
        for _ in range(2400):
            if ready():
                break
            assert process.poll() is None, process.communicate()[0]
            time.sleep(0.05)
        process.send_signal(signal.SIGINT)
        return process.communicate(timeout=120)[0]
    finally:
        if process.poll() is None:
            process.kill()


def test_ctrl_c_leaves_a_study_that_resume_completes(tmp_path):
    spec = write_spec(tmp_path, DIGITS_SPACE)
    out = tmp_path / "s"
    command = [sys.executable, "-c", "from cli import main; main()", "search", str(spec), "--trials", "3",
               "--epochs", "400", "--pruner", "none", "--seed", "0", "--out", str(out), "-q"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = interrupt_when(process, lambda: (out / "trials" / "0000" / "checkpoint.npz").exists())  # trial 0 trains
    assert process.returncode == 130, output
    assert "--resume" in output
    trials = trials_of(out)  # trial 0 (400 epochs) was training when the signal came
    assert [t["state"] for t in trials] == ["FAIL"] and trials[0]["attrs"].get("interrupted") is True
    run = json.loads((out / "trials" / "0000" / "run.json").read_text())
    assert run["outcome"].startswith("interrupted")
    result = search("--out", out, "--resume", "--epochs", "1", "-q")
    assert result.exit_code == 0, result.output
    trials = trials_of(out)
    counted = [t for t in trials if t["state"] in ("COMPLETE", "PRUNED") or "error" in t["attrs"]]
    assert len(counted) == 3, "the interrupted trial does not count: three trials ran after it"
    assert trials[0]["attrs"].get("interrupted") is True


def test_ctrl_c_stops_every_worker_of_jobs_2(tmp_path):
    """SIGINT to the search process alone (as `kill -INT` sends it) reaches its worker process too: both
    running trials stop with a checkpoint, recorded interrupted, the search exits 130, no worker is left."""
    spec = write_spec(tmp_path, DIGITS_SPACE)
    out = tmp_path / "s"
    command = [sys.executable, "-c", "from cli import main; main()", "search", str(spec), "--jobs", "2",
               "--trials", "4", "--epochs", "400", "--pruner", "none", "--out", str(out), "-q"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               start_new_session=True)  # the signal goes to this process only, not its group
    output = interrupt_when(process, lambda: len(list(out.glob("trials/*/checkpoint.npz"))) == 2)  # both train
    assert process.returncode == 130, output
    trials = trials_of(out)
    assert len(trials) == 2 and all(t["state"] == "FAIL" and t["attrs"].get("interrupted") for t in trials), trials
    for t in trials:
        assert json.loads((out / t["attrs"]["run_dir"] / "run.json").read_text())["outcome"].startswith("interrupted")
    log = (out / "workers" / "1.log").read_text()
    assert "Traceback" not in log and "error" not in log, log
