"""--threads N: one count for NumPy's BLAS, PyTorch and TensorFlow, recorded where a run is recorded; the
default is one thread (the same bits on every machine, no collapse when other work shares the cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from threadpoolctl import threadpool_info
from typer.testing import CliRunner

import backends.threads as threads
from backends.threads import default_threads, limit_threads
from cli import app
from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from frameworks import need

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()
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
    epochs = 1
    data = iris
}
"""


@pytest.fixture
def spec_path(tmp_path) -> Path:
    path = tmp_path / "tiny.nns"
    path.write_text(SPEC)
    return path


@pytest.fixture
def restore_threads():
    """Put the default thread count back after a test that changed it."""
    saved = {k: os.environ.get(k) for k in threads.THREAD_VARIABLES}
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    limit_threads(default_threads())


@pytest.mark.parametrize("user_value, expected", [(None, 1), ("3", 3), ("0", 1), ("many", 1)])
def test_default_is_one_thread_or_the_users_omp_num_threads(monkeypatch, user_value, expected):
    monkeypatch.setattr(threads, "_USER_OMP_NUM_THREADS", user_value)
    assert default_threads() == expected


def test_limit_threads_sets_blas_openmp_and_torch_and_the_environment(restore_threads):
    torch = need("torch")
    for n in (2, 1):
        assert limit_threads(n) == n
        assert {pool["num_threads"] for pool in threadpool_info()} == {n}
        assert torch.get_num_threads() == n
        assert os.environ["OMP_NUM_THREADS"] == os.environ["TF_NUM_INTRAOP_THREADS"] == str(n)


def test_torch_loaded_later_gets_the_count():
    """In a fresh process, as a command runs: the count first, then the backend imports its framework
    (TensorFlow's pools: tests/test_quiet_output.py, in the one process that imports it)."""
    script = ("from backends.threads import limit_threads\nlimit_threads(2)\n"
              "from backends import require\nrequire('torch')\n"
              "import torch\nprint(torch.get_num_threads(), torch.get_num_interop_threads())\n")
    env = {k: v for k, v in os.environ.items() if k not in threads.THREAD_VARIABLES}
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "2"]


def test_train_records_the_thread_count_in_run_json_and_the_checkpoint(spec_path, tmp_path, restore_threads):
    from runtime.checkpoint import load_checkpoint

    result = runner.invoke(app, ["train", str(spec_path), "--out", str(tmp_path / "run"), "-q", "--threads", "2"])
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["threads"] == 2
    assert load_checkpoint(tmp_path / "run")[3]["overrides"]["threads"] == 2  # a resumed run keeps it


def test_equiv_records_the_thread_count(spec_path, tmp_path, restore_threads):
    result = runner.invoke(app, ["equiv", str(spec_path), "--backends", "numpy", "--steps", "2", "--threads", "2",
                                 "--out", str(tmp_path / "eq")])
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads((tmp_path / "eq" / "equiv.json").read_text())["threads"] == 2


@pytest.mark.parametrize("command", ["train", "equiv", "diagnose", "lr-find"])
def test_threads_must_be_a_positive_integer(command, spec_path):
    for bad in ("0", "-1", "two"):
        result = runner.invoke(app, [command, str(spec_path), "--threads", bad])
        assert result.exit_code == EXIT_ERRORS
        assert "--threads" in result.output and "Traceback" not in result.output
