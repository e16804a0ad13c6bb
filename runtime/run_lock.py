"""One writer per run directory: an exclusive ``flock`` on ``.nnspec.lock`` inside it.

``nnspec train`` (new run or ``--resume``) and ``nnspec equiv`` take the lock when they create or
reopen the directory and hold it until they finish (the operating system releases it when the
process ends, however it ends: a crash or ``kill -9`` never leaves a stale lock). A second
process that wants the directory gets ``RunDirInUse`` at once — "… is in use by another nnspec
process (pid N)" — instead of silently overwriting the first one's weights and history. The lock
file holds the owner's pid for that message; it stays in the directory (removing it would let two
processes lock two different files).
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from runtime.files import WriteError

LOCK_NAME = ".nnspec.lock"


class RunDirInUse(Exception):
    """Another process holds the run directory's lock; the message names the directory and its pid."""


class RunDirLock:
    """A held lock on a run directory; ``release()`` (or process exit) gives it up."""

    def __init__(self, directory: Path, fd: int, created: bool):
        self.directory, self.fd, self.created = directory, fd, created

    @property
    def path(self) -> Path:
        return self.directory / LOCK_NAME

    def release(self, *, remove: bool = False) -> None:
        """Give the lock up; ``remove=True`` also deletes the lock file if this lock created it (for a
        directory nnspec then leaves untouched)."""
        if self.fd < 0:
            return
        if remove and self.created:
            try:
                os.unlink(self.path)
            except OSError:
                pass
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> RunDirLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def lock_run_dir(directory: Path) -> RunDirLock:
    """Take the exclusive lock on ``directory`` (which must exist) without waiting.

    Raises ``RunDirInUse`` when another process holds it, ``WriteError`` when the lock file cannot be
    created (read-only directory, disk full). On success the lock file holds this process's pid."""
    directory = Path(directory)
    path = directory / LOCK_NAME
    flags = os.O_RDWR | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    created = False
    try:
        try:
            fd = os.open(path, flags | os.O_CREAT | os.O_EXCL, 0o644)
            created = True
        except FileExistsError:
            fd = os.open(path, flags)
    except OSError as exc:
        raise WriteError(path, exc.strerror or str(exc), exc.errno) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            os.close(fd)
            raise WriteError(path, exc.strerror or str(exc), exc.errno) from None
        holder = _read_pid(fd)
        os.close(fd)
        who = f" (pid {holder})" if holder else ""
        raise RunDirInUse(f"{directory} is in use by another nnspec process{who}; wait for it to finish or "
                          "choose another directory") from None
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    except OSError as exc:
        os.close(fd)
        raise WriteError(path, exc.strerror or str(exc), exc.errno) from None
    return RunDirLock(directory, fd, created)


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
