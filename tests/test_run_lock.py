"""One writer per run directory: a second `nnspec train` (or `--resume`, or `equiv`) on a directory
another process is writing is refused with the other's pid, and changes nothing. Synchronisation with
the other process is by pipes, never by sleeping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from runtime.checkpoint import FILENAME
from runtime.run_lock import LOCK_NAME, RunDirInUse, lock_run_dir
from write_faults import FINAL_FILES, error_lines, interrupted_run, invoke, snapshot, write_spec

ROOT = Path(__file__).resolve().parent.parent

HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from runtime.run_lock import lock_run_dir
    lock = lock_run_dir(Path(sys.argv[1]))
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin
""")


class Holder:
    """Another process that holds a run directory's lock until ``release()``."""

    def __init__(self, directory: Path):
        self.proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(directory)], cwd=ROOT, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline() == "locked\n"

    def release(self) -> None:
        self.proc.stdin.close()
        assert self.proc.wait(timeout=60) == 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.release()


@pytest.fixture
def spec(tmp_path):
    return write_spec(tmp_path)


def test_a_second_train_into_a_directory_being_written_is_refused(tmp_path, spec):
    out = tmp_path / "run"
    out.mkdir()
    with Holder(out) as holder:
        before = snapshot(out)
        result = invoke("train", spec, "--out", out, "--epochs", "1", "-q")
        assert result.exit_code == 2, result.output
        assert f"{out} is in use by another nnspec process (pid {holder.proc.pid})" in result.output
        assert len(error_lines(result.output)) == 1
        assert snapshot(out) == before
    # once the other process is gone the directory is free (and still empty but for the lock file)
    result = invoke("train", spec, "--out", out, "--epochs", "1", "-q")
    assert result.exit_code == 0, result.output


def test_a_resume_of_a_run_being_written_is_refused(tmp_path, spec):
    out = tmp_path / "run"
    interrupted_run(spec, out)
    with Holder(out) as holder:
        before = snapshot(out)
        result = invoke("train", spec, "--resume", out, "-q")
        assert result.exit_code == 2, result.output
        assert f"is in use by another nnspec process (pid {holder.proc.pid})" in result.output
        assert snapshot(out) == before


def test_equiv_into_a_directory_being_written_is_refused(tmp_path, spec):
    out = tmp_path / "equiv"
    out.mkdir()
    with Holder(out) as holder:
        result = invoke("equiv", spec, "--backends", "numpy", "--steps", "2", "--out", out)
        assert result.exit_code == 2, result.output
        assert f"(pid {holder.proc.pid})" in result.output
        assert sorted(os.listdir(out)) == [LOCK_NAME]


def test_the_lock_dies_with_its_process(tmp_path):
    holder = Holder(tmp_path)
    with pytest.raises(RunDirInUse):
        lock_run_dir(tmp_path)
    holder.proc.send_signal(signal.SIGKILL)
    holder.proc.wait(timeout=60)
    lock_run_dir(tmp_path).release()  # free: no stale lock after kill -9


TRAINER = textwrap.dedent("""
    import sys
    from backends.numpy.trainer import NumpyTrainer
    from cli import main
    original = NumpyTrainer.train_batch
    state = {"waited": False}

    def train_batch(self, *args):
        if not state["waited"]:  # the first step: tell the test, then wait until it says go on
            state["waited"] = True
            print("inside the first step", flush=True)
            sys.stdin.readline()
        return original(self, *args)

    NumpyTrainer.train_batch = train_batch
    sys.argv = ["nnspec", *sys.argv[1:]]
    main()
""")


def test_two_real_train_processes_on_the_same_new_out_one_trains_one_is_refused(tmp_path, spec):
    out = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-c", TRAINER, "train", str(spec), "--out", str(out), "-q",
                              "--epochs", "1"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        while first.stdout.readline() not in ("inside the first step\n", ""):
            pass  # (the lines nnspec prints before it)
        assert first.poll() is None  # it holds the directory and is inside its first step
        second = invoke("train", spec, "--out", out, "--epochs", "1", "-q")
        assert second.exit_code == 2, second.output
        assert f"is in use by another nnspec process (pid {first.pid})" in second.output
    finally:
        first.stdin.write("go on\n")
        first.stdin.close()
        first.wait(timeout=120)
    assert first.returncode == 0, first.stderr.read()
    assert FINAL_FILES | {FILENAME, LOCK_NAME} == set(os.listdir(out))
    assert json.loads((out / "run.json").read_text())["outcome"] == "completed"
    # and a third writer, after both, finds the directory taken by a finished run
    third = invoke("train", spec, "--out", out, "--epochs", "1", "-q")
    assert third.exit_code == 2 and "is not empty" in third.output
