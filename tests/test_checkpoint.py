"""Checkpoints and resume: an interrupted run, resumed, ends exactly like one that ran through."""

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

from runtime.checkpoint import FILENAME, fingerprint, load_checkpoint, save_checkpoint
from runtime.data import load_dataset
from backends.contract import Interrupted, LoopState
from runtime.loop import fit
from backends.numpy.trainer import NumpyTrainer
from cli import app
from compiler.pipeline import compile_text
from hostile_files import hang_guard
from resume_cases import iris_resume_spec, without_time

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()

SPEC = iris_resume_spec(6)



@pytest.fixture(scope="module")
def setup():
    spec = compile_text(SPEC, "m.nns").spec
    data = load_dataset(spec)
    return spec, data


def run_through(spec, data):
    trainer = NumpyTrainer(spec)
    history = fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=6, seed=5)
    return trainer.get_weights(), history.epochs


# 120 training samples in batches of 16: 8 steps per epoch. Stop mid-epoch, at an epoch boundary,
# after one step, and several times in one run.
@pytest.mark.parametrize("stops", [[3], [8], [1], [5, 13, 21, 30, 41]])
def test_interrupted_and_resumed_equals_uninterrupted(setup, tmp_path, stops):
    spec, data = setup
    reference_weights, reference_history = run_through(spec, data)
    meta = {"fingerprint": fingerprint(spec)}
    trainer = NumpyTrainer(spec)
    state = LoopState()
    for stop in stops:
        def save(s):
            save_checkpoint(tmp_path, s, weights=trainer.get_weights(), trainer_state=trainer.state(), meta=meta)

        with pytest.raises(Interrupted):
            fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=6, seed=5, resume=state,
                on_checkpoint=save, should_stop=lambda: state.step >= stop)
        # a new process: everything comes back from the checkpoint file
        state, weights, trainer_state, _ = load_checkpoint(tmp_path)
        assert state.step == stop
        trainer = NumpyTrainer(spec, weights)
        trainer.load_state(trainer_state)
    history = fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=6, seed=5, resume=state)
    final = trainer.get_weights()
    assert all(np.array_equal(final[k], reference_weights[k]) for k in reference_weights)  # bit for bit
    assert without_time(history.epochs) == without_time(reference_history)


def test_checkpoint_every_n_steps_and_every_epoch(setup, tmp_path):
    spec, data = setup
    seen = []
    trainer = NumpyTrainer(spec)
    fit(trainer, spec, data.x_train, data.y_train, data.x_val, data.y_val, epochs=2, seed=5,
        on_checkpoint=lambda s: seen.append((s.epoch, s.batch, s.step)), checkpoint_every=3)
    assert seen == [(0, 3, 3), (0, 6, 6), (1, 0, 8), (1, 1, 9), (1, 4, 12), (1, 7, 15), (2, 0, 16)]


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


def test_cli_ctrl_c_checkpoints_and_resume_finishes_identically(tmp_path):
    out = interrupted_run(tmp_path)
    state, _, _, _ = load_checkpoint(out)
    assert (state.epoch, state.step) == (0, 2)
    # not -q: the test reads the first line
    result = runner.invoke(app, ["train", str(tmp_path / "m.nns"), "--resume", str(out)])
    assert result.exit_code == 0, result.output
    assert "resuming at epoch 1 after step 2" in result.output
    full = tmp_path / "full"
    assert runner.invoke(app, ["train", str(tmp_path / "m.nns"), "--out", str(full), "-q"]).exit_code == 0
    a, b = np.load(out / "weights.npz"), np.load(full / "weights.npz")
    assert all(np.array_equal(a[k], b[k]) for k in b.files)
    assert without_time(json.loads((out / "history.json").read_text())) == \
        without_time(json.loads((full / "history.json").read_text()))


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
