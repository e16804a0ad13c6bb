"""What a new user sees: `train -q` prints only the final lines, and the Keras backend prints nnspec's lines
only — none of TensorFlow's start-up noise."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backends.keras.startup import TF_LOG_LEVEL, quiet_tensorflow_startup
from backends.threads import default_threads
from cli import app
from cli.exit_codes import EXIT_OK

ROOT = Path(__file__).resolve().parent.parent
SPEC = """
model tiny {
    Input([4])
    Dense(8, activation=relu)
    Dense(3, activation=softmax)
}

train {
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=1e-2)
    batch_size = 50
    epochs = 2
    validation_split = 0.2
    data = iris
}
"""
# What TensorFlow prints on start-up when nobody silences it.
TF_NOISE = ("absl::InitializeLog", "cpu_feature_guard", "This TensorFlow binary is optimized", "oneDNN",
            "cuInit", "cuda", "I0000", "W0000", "E0000")


@pytest.fixture
def spec_path(tmp_path) -> Path:
    path = tmp_path / "tiny.nns"
    path.write_text(SPEC)
    return path


def test_quiet_train_prints_only_how_the_run_ended(spec_path, tmp_path):
    loud = CliRunner().invoke(app, ["train", str(spec_path), "--out", str(tmp_path / "loud")])
    quiet = CliRunner().invoke(app, ["train", str(spec_path), "--out", str(tmp_path / "quiet"), "-q"])
    assert loud.exit_code == quiet.exit_code == EXIT_OK, loud.output + quiet.output
    assert "epoch 1/2" in loud.stdout and loud.stdout.startswith("training tiny")
    lines = quiet.stdout.splitlines()
    assert len(lines) == 2, quiet.stdout
    assert lines[0].startswith("completed; weights of epoch 2: loss ")
    assert lines[1] == f"run directory: {tmp_path / 'quiet'}"
    assert quiet.stderr == ""
    for run in ("loud", "quiet"):  # run.json records the thread count, here the default
        assert json.loads((tmp_path / run / "run.json").read_text())["threads"] == default_threads()


def test_quiet_still_prints_warnings_and_errors(spec_path, tmp_path):
    spec_path.write_text(SPEC.replace("learning_rate=1e-2", "learning_rate=5.0"))
    result = CliRunner().invoke(app, ["train", str(spec_path), "--out", str(tmp_path / "run"), "-q"])
    assert "[learning-rate]" in result.stderr
    assert "epoch 1/2" not in result.stdout


def test_keras_backend_prints_only_nnspecs_lines(spec_path, tmp_path):
    """`nnspec train --backend keras` in a fresh process, as a user runs it: nothing from TensorFlow on
    stderr; and TensorFlow's thread pools take --threads."""
    script = (
        "import atexit, sys\n"
        "def report():\n"
        "    import tensorflow as tf\n"
        "    t = tf.config.threading\n"
        "    print('tensorflow threads', t.get_intra_op_parallelism_threads(), t.get_inter_op_parallelism_threads())\n"
        "atexit.register(report)\n"
        f"sys.argv = ['nnspec', 'train', {str(spec_path)!r}, '--backend', 'keras', '--threads', '2',"
        f" '--out', {str(tmp_path / 'run')!r}]\n"
        "from cli import main\n"
        "main()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_") and k != "OMP_NUM_THREADS"}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == EXIT_OK, out.stderr
    assert out.stderr == "", out.stderr
    assert not [line for line in out.stdout.splitlines() if any(noise in line for noise in TF_NOISE)], out.stdout
    assert f"run directory: {tmp_path / 'run'}" in out.stdout
    assert "tensorflow threads 2 2" in out.stdout


def test_tensorflow_logging_the_user_configured_is_left_alone(monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "0")
    logger = logging.getLogger("tensorflow")
    monkeypatch.setattr(logger, "level", logging.INFO)
    quiet_tensorflow_startup()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == "0" and logger.level == logging.INFO
    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL")
    monkeypatch.setattr(logger, "level", logging.NOTSET)
    quiet_tensorflow_startup()
    assert os.environ["TF_CPP_MIN_LOG_LEVEL"] == TF_LOG_LEVEL and logger.level == logging.ERROR
