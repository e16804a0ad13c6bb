"""What the tests of nnspec's writing share: faults injected at the system-call level, runs
interrupted from inside, and snapshots of directories.

``failing_writes(monkeypatch, directory, errno, names=...)`` makes ``os.write`` fail with ``errno``
(ENOSPC: disk full, EFBIG: file too large, ...) for files in ``directory`` — optionally only files
whose name contains one of ``names`` — exactly as the kernel would. ``denied_creation(monkeypatch,
directory, errno)`` makes creating files or directories there fail (EACCES, EROFS): what a
read-only directory or file system does to a non-root user, simulated because the tests run as
root, whom permissions do not stop.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from typer.testing import CliRunner

from backends.numpy.trainer import NumpyTrainer
from cli import app

runner = CliRunner()

# A small run: iris, 120 training samples in batches of 16 (8 steps per epoch), three epochs.
SPEC = """model m {
    Input([4])
    Dense(8, activation=relu)
    Dense(3, activation=softmax)
}
train {
    loss = sparse_categorical_crossentropy
    optimizer = adam(learning_rate=0.01)
    batch_size = 16
    epochs = 3
    seed = 1
    metrics = [accuracy]
    validation_split = 0.2
    data = iris
}
"""

FINAL_FILES = {"spec.nns", "ir.json", "weights.npz", "history.json", "history.csv", "curves.png", "run.json"}


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_spec(directory: Path, text: str = SPEC, name: str = "m.nns") -> Path:
    path = directory / name
    path.write_text(text)
    return path


def snapshot(directory: Path) -> dict[str, bytes | None]:
    """Every entry of ``directory`` (recursively) with its bytes (None for a directory)."""
    out = {}
    for p in sorted(directory.rglob("*")):
        out[str(p.relative_to(directory))] = p.read_bytes() if p.is_file() and not p.is_symlink() else None
    return out


def temporary_files(directory: Path) -> list[str]:
    """Names nnspec's writers give their temporary files (``.<name>.<random>.tmp``) and the old ones."""
    return sorted(p.name for p in directory.rglob("*") if p.name.endswith(".tmp"))


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return ""


def failing_writes(monkeypatch, directory: Path, error: int, names: tuple[str, ...] = (), after: int = 0) -> dict:
    """``os.write`` raises ``OSError(error)`` for files in ``directory`` (whose name contains one of
    ``names``, if given), once ``after`` such writes have succeeded. Returns a counter of attempts."""
    real_write = os.write
    inside = str(Path(directory).resolve())
    seen = {"writes": 0, "failed": 0}

    def write(fd, data):
        path = _fd_path(fd)
        if path.startswith(inside + os.sep) and (not names or any(n in os.path.basename(path) for n in names)):
            seen["writes"] += 1
            if seen["writes"] > after:
                seen["failed"] += 1
                raise OSError(error, os.strerror(error))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", write)
    return seen


def denied_creation(monkeypatch, directory: Path, error: int) -> None:
    """Creating or opening for writing any file in ``directory``, or a directory under it, fails with
    ``OSError(error)`` (EACCES for a read-only directory, EROFS for a read-only file system)."""
    real_open, real_mkdir = os.open, os.mkdir
    inside = str(Path(directory).resolve())
    writing = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC

    def within(path) -> bool:
        full = os.path.abspath(os.fspath(path))
        return full == inside or full.startswith(inside + os.sep)

    def open_(path, flags, *args, **kwargs):
        if flags & writing and within(path):
            raise OSError(error, os.strerror(error), os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    def mkdir(path, *args, **kwargs):
        if within(path):
            raise OSError(error, os.strerror(error), os.fspath(path))
        return real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    monkeypatch.setattr(os, "mkdir", mkdir)


def interrupted_run(spec: Path, out: Path, *args, at_step: int = 2):
    """``nnspec train SPEC --out OUT ARGS`` stopped by a real SIGINT raised inside step ``at_step`` (the
    step finishes; the loop stops before the next one and checkpoints). Returns the CLI result."""
    calls = {"n": 0}
    original = NumpyTrainer.train_batch

    def train_batch(self, *a):
        calls["n"] += 1
        if calls["n"] == at_step:
            signal.raise_signal(signal.SIGINT)  # the handler only sets a flag: the step finishes
        return original(self, *a)

    NumpyTrainer.train_batch = train_batch
    try:
        result = invoke("train", spec, "--out", out, "-q", *args)
    finally:
        NumpyTrainer.train_batch = original
    assert result.exit_code == 130, result.output
    return result


def error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if "error" in line]
