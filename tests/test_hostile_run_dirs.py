"""`nnspec report` on broken run directories: a path that is not a run, or a run file that is broken, is one
`path: error: ...` line naming it (exit 2, nothing written); a run missing some files is still reported, with a
warning saying what is missing. Never a traceback, never an internal error, never a hang."""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from cli import app
from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from hostile_files import hang_guard, listing, run_nnspec

runner = CliRunner()


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    """Each test runs in its own directory: `report` without --plot writes report.png to the working one."""
    monkeypatch.chdir(tmp_path)

SPEC = """model m {
    Input([4])
    Dense(3, activation=softmax)
}
train {
    loss = sparse_categorical_crossentropy
    optimizer = adam
    batch_size = 32
    epochs = 2
    metrics = [accuracy]
    data = iris
}
"""


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    """A run directory written by `nnspec train` (2 epochs of iris)."""
    base = tmp_path_factory.mktemp("good")
    (base / "m.nns").write_text(SPEC)
    result = runner.invoke(app, ["train", str(base / "m.nns"), "--out", str(base / "run"), "-q"])
    assert result.exit_code == 0, result.output
    return base / "run"


@pytest.fixture
def run(good_run, tmp_path):
    """A fresh copy of the good run, to break; its table row starts with "broken"."""
    return shutil.copytree(good_run, tmp_path / "broken")


def write(path, text):
    if os.path.lexists(path):
        path.unlink()
    path.write_text(text)


def zip_weights(run):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("dense/kernel.npy", b"\x93NUMPY garbage")
    (run / "weights.npz").write_bytes(buffer.getvalue())


# breakage -> (function that breaks a run directory, the file named, what the message says)
BROKEN = {
    "history.json not JSON": (lambda r: write(r / "history.json", "{'loss': 1"), "history.json", "not valid JSON"),
    "history.json an object": (lambda r: write(r / "history.json", '{"loss": 1}'), "history.json",
                               "expected a list of epochs, found an object"),
    "history.json entry a number": (lambda r: write(r / "history.json", "[1, 2]"), "history.json",
                                    "entry 1 is a number, not an object of numbers"),
    "history.json value a string": (lambda r: write(r / "history.json", '[{"epoch": 1, "loss": "low"}]'),
                                    "history.json", "entry 1: 'loss' is \"low\", not a number"),
    "history.json epoch not whole": (lambda r: write(r / "history.json", '[{"epoch": 0.5, "loss": 1}]'),
                                     "history.json", "'epoch' is 0.5, not a positive whole number"),
    "history.json nested deeply": (lambda r: write(r / "history.json", "[" * 100_000 + "]" * 100_000),
                                   "history.json", "nested too deeply"),
    "history.json not UTF-8": (lambda r: (r / "history.json").write_bytes(b'[{"loss": "\xff"}]'), "history.json",
                               "not UTF-8"),
    "history.json a FIFO": (lambda r: ((r / "history.json").unlink(), os.mkfifo(r / "history.json")),
                            "history.json", "FIFO"),
    "run.json a list": (lambda r: write(r / "run.json", "[]"), "run.json", "expected a JSON object, found a list"),
    "run.json seconds a string": (lambda r: write(r / "run.json", '{"seconds": "fast"}'), "run.json",
                                  "'seconds' is \"fast\", not a number"),
    "spec.nns a directory": (lambda r: ((r / "spec.nns").unlink(), (r / "spec.nns").mkdir()), "spec.nns",
                             "is a directory"),
    "weights.npz truncated": (lambda r: (r / "weights.npz").write_bytes((r / "weights.npz").read_bytes()[:200]),
                              "weights.npz", "not a .npz archive"),
    "weights.npz member not .npy": (zip_weights, "weights.npz", "member 'dense/kernel.npy' is not a .npy array"),
    "empty directory": (lambda r: [p.unlink() for p in r.iterdir()], "", "not a run directory"),
    "a file instead": (lambda r: (shutil.rmtree(r), r.write_text("x")), "", "is not a directory"),
    "missing": (lambda r: shutil.rmtree(r), "", "does not exist"),
}


@pytest.mark.parametrize("breakage", BROKEN)
def test_a_broken_run_is_one_error_naming_the_file_and_nothing_is_written(run, good_run, breakage, tmp_path):
    break_it, file, problem = BROKEN[breakage]
    break_it(run)
    plot = tmp_path / "report.png"
    with hang_guard():
        result = runner.invoke(app, ["report", str(good_run), str(run), "--plot", str(plot)])
    assert result.exit_code == EXIT_ERRORS, result.output
    errors = [line for line in result.output.splitlines() if ": error: " in line]
    assert len(errors) == 1, result.output
    assert errors[0].startswith(f"{run / file if file else run}: error: ") and problem in errors[0], result.output
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert not plot.exists()


def test_every_broken_run_is_named_not_only_the_first(good_run, tmp_path):
    empty, missing = tmp_path / "empty", tmp_path / "missing"
    empty.mkdir()
    result = runner.invoke(app, ["report", str(empty), str(good_run), str(missing)])
    assert result.exit_code == EXIT_ERRORS
    assert f"{empty}: error: not a run directory" in result.output
    assert f"{missing}: error: does not exist" in result.output


# breakage -> (function, the warning)
PARTIAL = {
    "history.json missing": (lambda r: (r / "history.json").unlink(),
                             "history.json is missing (the run did not finish): its epochs are taken from "
                             "checkpoint.npz"),
    "history.json and checkpoint missing": (lambda r: ((r / "history.json").unlink(), (r / "checkpoint.npz").unlink()),
                                            "history.json is missing: no losses or metrics to show"),
    "run.json missing": (lambda r: (r / "run.json").unlink(), "run.json is missing"),
    "run.json lacks keys": (lambda r: write(r / "run.json", "{}"), "run.json lacks backend, outcome, seconds"),
    "spec.nns missing": (lambda r: (r / "spec.nns").unlink(), "spec.nns is missing"),
    "weights.npz missing": (lambda r: (r / "weights.npz").unlink(), "weights.npz is missing"),
}


@pytest.mark.parametrize("breakage", PARTIAL)
def test_a_run_missing_files_is_reported_with_a_warning(run, good_run, breakage, tmp_path):
    break_it, warning = PARTIAL[breakage]
    break_it(run)
    plot = tmp_path / "report.png"
    result = runner.invoke(app, ["report", str(good_run), str(run), "--plot", str(plot)])
    assert result.exit_code == EXIT_OK, result.output
    assert f"{run}: warning: {warning}" in result.output
    assert any(line.startswith("broken ") for line in result.output.splitlines())  # the table has its row
    assert plot.read_bytes()[:4] == b"\x89PNG"


def test_an_unfinished_run_shows_the_epochs_of_its_checkpoint(run, good_run):
    (run / "history.json").unlink()
    (run / "run.json").unlink()
    history = json.loads((good_run / "history.json").read_text())
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == EXIT_OK, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("broken "))
    assert f"{history[-1]['loss']:.4f}" in row and "unfinished" in row


def test_nan_and_infinite_values_are_shown_not_refused(run, good_run, tmp_path):
    history = json.loads((run / "history.json").read_text())
    history[-1]["loss"] = float("nan")
    history[-1]["accuracy"] = float("inf")
    (run / "history.json").write_text(json.dumps(history))  # Python writes NaN and Infinity
    result = runner.invoke(app, ["report", str(good_run), str(run), "--plot", str(tmp_path / "r.png")])
    assert result.exit_code == EXIT_OK, result.output
    row = next(line for line in result.output.splitlines() if line.startswith("broken "))
    assert "nan" in row and "inf" in row


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_an_unreadable_run_file_is_an_error(run):
    (run / "history.json").chmod(0)
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == EXIT_ERRORS
    assert f"{run / 'history.json'}: error: cannot be read: permission denied" in result.output


def test_report_on_a_fifo_run_file_in_a_fresh_process_does_not_hang(run, tmp_path):
    (run / "run.json").unlink()
    os.mkfifo(run / "run.json")
    before = listing(tmp_path)
    done = run_nnspec(["report", str(run)], cwd=tmp_path)
    assert done.returncode == EXIT_ERRORS, done.stderr
    assert f"{run / 'run.json'}: error: is a FIFO (named pipe), not a regular file" in done.stderr
    assert listing(tmp_path) == before  # no report.png in the working directory


def test_report_refuses_an_oversized_weights_file_from_its_header(run, monkeypatch):
    buffer = io.BytesIO()
    np.savez(buffer, **{"dense/kernel": np.zeros((1024, 1024))})  # 8 MiB
    (run / "weights.npz").write_bytes(buffer.getvalue())
    monkeypatch.setenv("NNSPEC_DATA_BUDGET", "1M")
    result = runner.invoke(app, ["report", str(run)])
    assert result.exit_code == EXIT_ERRORS
    assert f"{run / 'weights.npz'}: error: is 8 MiB, over the data budget of 1 MiB" in result.output


def test_a_history_with_thousands_of_quantities_and_huge_names_stays_readable(run, tmp_path):
    names = {f"metric_{i}": 0.5 for i in range(2000)}
    huge = {"m" * 100_000: 1.0, "\x1b[2J": 2.0}  # a 100 KB name, and a terminal control sequence
    (run / "history.json").write_text(json.dumps([{"epoch": 1, "loss": 1.0, **huge, **names}]))
    (run / "run.json").write_text(json.dumps({"backend": "b" * 10_000, "outcome": "o" * 10_000, "seconds": 1}))
    with hang_guard():
        result = runner.invoke(app, ["report", str(run), "--plot", str(tmp_path / "r.png")])
    assert result.exit_code == EXIT_OK, result.output
    header = result.output.splitlines()[0].split()
    # run, backend, epochs; 12 quantities; seconds, outcome, "spec vs first"
    assert header[:4] == ["run", "backend", "epochs", "loss"] and len(header) == 3 + 12 + 5
    assert max(len(line) for line in result.output.splitlines()) < 600
    assert "\x1b" not in result.output
