"""The run directory under faults: a disk that fills up or a file-size limit during a checkpoint or the
final write (exit 74, the file named, the previous checkpoint intact, no temporary file, the final
files all or none), and Ctrl-C or SIGTERM arriving while the final files are written (the directory
is complete and its recorded outcome matches the exit code)."""

from __future__ import annotations

import errno
import json
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from frameworks import need
from runtime.checkpoint import FILENAME, load_checkpoint
from runtime.run_lock import LOCK_NAME
from write_faults import FINAL_FILES, SPEC, error_lines, failing_writes, interrupted_run, invoke, snapshot, \
    temporary_files, write_spec

ROOT = Path(__file__).resolve().parent.parent
DISK_ERRORS = [errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO]


# every errno on NumPy; the other backends take the same path, checked with one
CHECKPOINT_FAILURES = [("numpy", code) for code in DISK_ERRORS] + [("torch", errno.ENOSPC), ("keras", errno.ENOSPC)]


@pytest.mark.parametrize("backend,code", CHECKPOINT_FAILURES,
                         ids=[f"{b}-{errno.errorcode[c]}" for b, c in CHECKPOINT_FAILURES])
def test_a_checkpoint_that_cannot_be_written_stops_training_and_keeps_the_previous_one(tmp_path, monkeypatch,
                                                                                         backend, code):
    if backend != "numpy":
        need(backend)
    spec = write_spec(tmp_path)
    out = tmp_path / "run"
    # the first checkpoint (end of epoch 1) is written; the second fails at its first write
    attempts = failing_writes(monkeypatch, out, code, names=(f".{FILENAME}.",), after=1)
    result = invoke("train", spec, "--out", out, "--backend", backend, "-q")
    assert result.exit_code == 74, result.output
    assert error_lines(result.output) == [f"{out / FILENAME}: error: cannot write this file: {os.strerror(code)}"]
    assert attempts["failed"] == 1  # training stopped at the failure
    state, weights, _, _ = load_checkpoint(out)
    assert (state.epoch, state.batch) == (1, 0)  # the previous checkpoint, intact
    assert temporary_files(out) == [] and not (FINAL_FILES & set(os.listdir(out)))
    assert f"--resume {out}" in result.output


def test_a_final_write_that_fails_leaves_none_of_the_final_files_and_a_resume_finishes_it(tmp_path, monkeypatch):
    spec = write_spec(tmp_path)
    out = tmp_path / "run"
    with monkeypatch.context() as patch:
        failing_writes(patch, out, errno.ENOSPC, names=(".history.csv.",))
        result = invoke("train", spec, "--out", out, "-q")
    assert result.exit_code == 74, result.output
    assert f"{out / 'history.csv'}: error: cannot write this file: No space left on device" in result.output
    assert set(os.listdir(out)) == {FILENAME, LOCK_NAME}  # all or none: none, and no temporary file
    state, _, _, _ = load_checkpoint(out)
    assert state.epoch == 3  # every epoch is in the checkpoint
    result = invoke("train", spec, "--resume", out, "-q")
    assert result.exit_code == 0, result.output
    assert FINAL_FILES <= set(os.listdir(out))
    assert len(json.loads((out / "history.json").read_text())) == 3


def test_a_failed_final_write_of_a_resumed_run_keeps_the_previous_files(tmp_path, monkeypatch):
    spec = write_spec(tmp_path)
    out = tmp_path / "run"
    interrupted_run(spec, out, at_step=10)  # in epoch 2: the first epoch's curves are plotted
    before = {name: data for name, data in snapshot(out).items() if name in FINAL_FILES}
    assert set(before) == FINAL_FILES
    with monkeypatch.context() as patch:
        failing_writes(patch, out, errno.EIO, names=(".curves.png.",))
        result = invoke("train", spec, "--resume", out, "-q")
    assert result.exit_code == 74, result.output
    after = snapshot(out)
    assert {name: after[name] for name in FINAL_FILES} == before  # still the interrupted run's, consistent
    assert json.loads(after["run.json"])["outcome"].startswith("interrupted")
    assert temporary_files(out) == []


def test_a_file_size_limit_fails_the_checkpoint_with_efbig_not_a_killed_process(tmp_path):
    """A real RLIMIT_FSIZE in a child process: SIGXFSZ would kill it; nnspec ignores the signal, so the
    write fails with EFBIG, reported as exit 74, and the checkpoint on disk is the previous one."""
    spec = write_spec(tmp_path)
    out = tmp_path / "run"
    interrupted_run(spec, out)
    before = (out / FILENAME).read_bytes()
    limit = len(before) // 2

    def limit_file_size():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    proc = subprocess.run([sys.executable, "-c", "from cli import main; main()", "train", str(spec),
                           "--resume", str(out), "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          preexec_fn=limit_file_size)
    assert proc.returncode == 74, proc.stderr
    assert f"{out / FILENAME}: error: cannot write this file: File too large" in proc.stderr
    assert (out / FILENAME).read_bytes() == before
    assert temporary_files(out) == []


SIGNAL_IN_FINAL_WRITE = textwrap.dedent("""
    import os, signal, sys
    import runtime.run_dir as run_dir
    from cli import main
    original, late = run_dir.history_csv, getattr(signal, sys.argv[1])

    def history_csv(epochs):  # called while the final files are being written
        os.kill(os.getpid(), late)
        return original(epochs)

    run_dir.history_csv = history_csv
    if sys.argv[2] == "interrupted":  # a first Ctrl-C at step 10: the final write is an interrupted run's
        from backends.numpy.trainer import NumpyTrainer
        train_batch, calls = NumpyTrainer.train_batch, []

        def interrupting(self, *args):
            calls.append(1)
            if len(calls) == 10:
                os.kill(os.getpid(), signal.SIGINT)
            return train_batch(self, *args)

        NumpyTrainer.train_batch = interrupting
    sys.argv = ["nnspec", *sys.argv[3:]]
    main()
""")


@pytest.mark.parametrize("signame", ["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("outcome,exit_code", [("completed", 0), ("interrupted", 130)])
def test_a_signal_during_the_final_write_leaves_a_complete_directory_whose_outcome_is_true(tmp_path, signame, outcome,
                                                                                          exit_code):
    spec = write_spec(tmp_path, SPEC.replace("epochs = 3", "epochs = 2"))
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-c", SIGNAL_IN_FINAL_WRITE, signame, outcome, "train", str(spec),
                           "--out", str(out), "-q"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == exit_code, proc.stderr
    assert FINAL_FILES | {FILENAME} <= set(os.listdir(out)) and temporary_files(out) == []
    info = json.loads((out / "run.json").read_text())
    assert info["outcome"].startswith(outcome)
    history = json.loads((out / "history.json").read_text())
    assert (out / "history.csv").read_text().count("\n") == len(history) + 1
    if outcome == "completed":
        assert f"{signame} arrived after the last step" in proc.stderr
    weights = np.load(out / "weights.npz")
    assert all(np.all(np.isfinite(weights[k])) for k in weights.files)
