"""Checkpoints and resume through the command line and on disk: refusals that change nothing, damaged
files, kill -9 during a write, SIGTERM from outside. (That an interrupted run, resumed, ends exactly
like one that ran through — on every backend and mode, Ctrl-C included — is the loop's contract,
tests/test_loop_contract.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from runtime.checkpoint import FILENAME, load_checkpoint, save_checkpoint
from backends.numpy.trainer import NumpyTrainer
from cli import app
from hostile_files import hang_guard
from resume_cases import iris_resume_spec

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

SPEC = iris_resume_spec(6)


def write_spec(tmp_path, text=SPEC):
    path = tmp_path / "m.nns"
    path.write_text(text)
    return path


def snapshot(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def interrupted_run(tmp_path) -> Path:
    """A real CLI run stopped by SIGINT after its second step (raised from inside the process)."""
    spec = write_spec(tmp_path)
    out = tmp_path / "run"
    calls = {"n": 0}
    original = NumpyTrainer.train_batch

    def train_batch(self, *args):
        calls["n"] += 1
        if calls["n"] == 2:
            signal.raise_signal(signal.SIGINT)  # the handler only sets a flag: the step finishes
        return original(self, *args)

    NumpyTrainer.train_batch = train_batch
    try:
        result = runner.invoke(app, ["train", str(spec), "--out", str(out), "-q"])
    finally:
        NumpyTrainer.train_batch = original
    assert result.exit_code == 130, result.output
    assert "--resume" in result.output
    return out


def test_resume_from_another_spec_is_refused_and_changes_nothing(tmp_path):
    out = interrupted_run(tmp_path)
    before = snapshot(out)
    other = tmp_path / "other.nns"
    other.write_text(SPEC.replace("Dense(16", "Dense(17"))
    result = runner.invoke(app, ["train", str(other), "--resume", str(out)])
    assert result.exit_code == 2
    assert "was trained from another spec" in result.output
    assert snapshot(out) == before


def test_resume_with_other_settings_is_refused(tmp_path):
    out = interrupted_run(tmp_path)
    result = runner.invoke(app, ["train", str(tmp_path / "m.nns"), "--resume", str(out), "--seed", "9"])
    assert result.exit_code == 2 and "was trained with seed 5, not 9" in result.output


@pytest.mark.parametrize("damage", ["truncate", "garbage", "newer", "missing"])
def test_bad_checkpoints_give_a_clear_error_and_change_nothing(tmp_path, damage):
    out = interrupted_run(tmp_path)
    path = out / FILENAME
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    elif damage == "garbage":
        path.write_bytes(b"not a checkpoint")
    elif damage == "newer":
        state, weights, trainer_state, meta = load_checkpoint(out)
        save_checkpoint(out, state, weights=weights, trainer_state=trainer_state, meta=meta)
        data = dict(np.load(path, allow_pickle=False))
        document = json.loads(str(data["meta"]))
        document["format_version"] = 99
        data["meta"] = np.array(json.dumps(document))
        np.savez(path, **data)
    else:
        path.unlink()
    before = snapshot(out)
    result = runner.invoke(app, ["train", str(tmp_path / "m.nns"), "--resume", str(out)])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    expected = {"truncate": "not a .npz archive", "garbage": "not a .npz archive",
                "newer": "newer than this nnspec reads", "missing": "has no checkpoint"}[damage]
    assert expected in result.output
    assert snapshot(out) == before


def test_kill_9_during_checkpoint_writes_leaves_a_loadable_checkpoint(tmp_path):
    """A process that has written one checkpoint is killed with SIGKILL in the middle of writing the next:
    ``runtime/files.py``'s test hook pauses the write after half its bytes and says so through a FIFO, so
    the kill lands inside the write every time. The checkpoint on disk is the previous one, whole."""
    fifo = tmp_path / "pause"
    os.mkfifo(fifo)
    out = tmp_path / "run"
    out.mkdir()
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import numpy as np
        from pathlib import Path
        from runtime.checkpoint import save_checkpoint
        from runtime.files import PAUSE_WRITE_ENV
        from backends.contract import LoopState
        out = Path(sys.argv[1])
        weights = {{"dense/kernel": np.random.default_rng(0).normal(size=(300, 200))}}
        save_checkpoint(out, LoopState(step=1), weights=weights, trainer_state={{}}, meta={{"n": 1}})
        os.environ[PAUSE_WRITE_ENV] = {str(fifo)!r}
        weights["dense/kernel"] += 1.0
        save_checkpoint(out, LoopState(step=2), weights=weights, trainer_state={{}}, meta={{"n": 2}})
        print("the second write was not paused", flush=True)
    """))
    first_kernel = np.random.default_rng(0).normal(size=(300, 200))
    proc = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE, text=True)
    try:
        with hang_guard(120), open(fifo, encoding="utf-8") as paused:  # the writer's signal: half written
            temporary = Path(paused.readline().strip())
        assert temporary.parent == out and temporary.name.startswith(f".{FILENAME}.")
        # inside the write: half of a checkpoint as large as the previous one is on disk, no more
        assert 0 < temporary.stat().st_size < (out / FILENAME).stat().st_size
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stdout.read() == ""
    state, weights, _, meta = load_checkpoint(out)
    assert (state.step, meta["n"]) == (1, 1)
    np.testing.assert_array_equal(weights["dense/kernel"], first_kernel)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stop_signal_that_a_library_swallows_while_the_run_is_prepared_still_stops_it(signum, tmp_path,
                                                                                      monkeypatch):
    """TensorFlow's import catches a KeyboardInterrupt that arrives inside it: Ctrl-C in the first seconds of
    ``train --backend keras`` once went unseen, and the run trained to its end with exit 0. A signal that
    arrives while the run is prepared is recorded, and the loop stops at its first step boundary."""
    import runtime.trainers

    real = runtime.trainers.make_trainer

    def swallowing_make_trainer(*args, **kwargs):
        try:  # what a library's import does with the KeyboardInterrupt
            os.kill(os.getpid(), signum)
        except KeyboardInterrupt:
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(runtime.trainers, "make_trainer", swallowing_make_trainer)
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", str(write_spec(tmp_path)), "--out", str(out), "-q"])
    assert result.exit_code == 130, result.output
    state, _, _, _ = load_checkpoint(out)
    assert state.step == 0
    assert json.loads((out / "run.json").read_text())["outcome"].startswith("interrupted")


def test_ctrl_c_that_a_framework_import_swallows_is_delivered_after_it(monkeypatch):
    """``backends.require`` keeps a Ctrl-C that arrives while it imports a framework (TensorFlow's import
    catches the KeyboardInterrupt) and delivers it after the import, so that every command stops."""
    import importlib

    import backends

    real = importlib.import_module

    def swallowing_import(name, *args):
        if name == backends.BACKENDS["numpy"][2]:
            try:
                os.kill(os.getpid(), signal.SIGINT)
            except KeyboardInterrupt:
                pass
        return real(name, *args)

    monkeypatch.setattr(backends.importlib, "import_module", swallowing_import)
    with pytest.raises(KeyboardInterrupt):
        backends.require("numpy")


def test_sigterm_from_outside_stops_a_real_training_process(tmp_path):
    spec = write_spec(tmp_path, SPEC.replace("epochs = 6", "epochs = 400").replace("patience=10", "patience=1000"))
    out = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-c", "from cli import main; main()", "train", str(spec),
                             "--out", str(out), "-q"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    deadline = time.time() + 60
    while not (out / FILENAME).exists() and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 130, output
    state, _, _, _ = load_checkpoint(out)
    assert 0 < state.step < 400 * 8
    assert json.loads((out / "run.json").read_text())["outcome"].startswith("interrupted")
