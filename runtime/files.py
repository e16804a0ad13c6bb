"""Every file nnspec writes for a user goes through this module: ``write_file`` for one file,
``write_files`` for a group that must appear together (a run directory's final files),
``check_output_path`` / ``check_output_dir`` to refuse a bad output path before any work.

What a user can rely on, for every command that writes:

- A regular file is written to a unique temporary name in its own directory
  (``tempfile.mkstemp``), flushed, fsynced and renamed over the target: a crash, a full disk
  or a signal leaves the old file or the new one, never half of one, and the temporary file
  is always removed when the write fails.
- The file keeps its permission bits (a 0600 file stays 0600; a new file gets 0666 less the
  umask, as ``open()`` would give it) and, when nnspec may, its owner.
- A symbolic link is followed: its target is replaced and the link stays a link (``fmt`` on a
  link formats the file it points to).
- A character device or a FIFO is written in place, as any Unix tool does: ``-o /dev/null``
  discards the output and never replaces the device node. Other special files (block
  devices, sockets) are refused.
- A missing parent directory, a parent that is a file, or a target that is a directory is
  refused with a message naming the path; nothing is created.
- Every ``OSError`` (permission denied, read-only file system, disk full, file too large,
  quota exceeded, I/O error, ...) becomes a ``WriteError`` whose message names the file.
  ``SIGXFSZ`` is ignored, so that exceeding a file-size limit fails the write with EFBIG
  instead of killing the process.

For tests only: with ``NNSPEC_TEST_PAUSE_WRITE`` naming a FIFO, every staged write stops after half
its bytes, writes the temporary file's name and a newline to the FIFO (the test's signal that the
write is under way) and waits until the FIFO is opened for writing and closed again; so a test can
``kill -9`` the process in the middle of a write, deterministically (``tests/test_checkpoint.py``).
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path

# errno values that mean the file system failed the write (not that the path was wrong): the CLI
# exits with EXIT_IO (74) for these and EXIT_ERRORS (2) for every other WriteError.
RESOURCE_ERRORS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EIO})

PAUSE_WRITE_ENV = "NNSPEC_TEST_PAUSE_WRITE"  # tests only: see the module docstring


class WriteError(Exception):
    """A file could not be written; ``str()`` names the file and says why, ``errno`` is the cause
    (None for a path nnspec refuses itself), ``resource`` is True when the disk failed the write."""

    def __init__(self, path: Path | str, reason: str, errno_: int | None = None):
        super().__init__(f"cannot write {path}: {reason}")
        self.path = Path(path)
        self.reason = reason
        self.errno = errno_

    @property
    def resource(self) -> bool:
        return self.errno in RESOURCE_ERRORS


def _from_oserror(path: Path, exc: OSError) -> WriteError:
    reason = exc.strerror or str(exc)
    return WriteError(path, reason, exc.errno)


_sigxfsz_ignored = False


def _ignore_sigxfsz() -> None:
    """Make a write past RLIMIT_FSIZE fail with EFBIG instead of killing the process (main thread only)."""
    global _sigxfsz_ignored
    if _sigxfsz_ignored or not hasattr(signal, "SIGXFSZ") or threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    _sigxfsz_ignored = True


def _target(path: Path) -> Path:
    """The file a write to ``path`` changes: a symbolic link's final target, else ``path``."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


def check_output_path(path: Path | str) -> None:
    """Raise ``WriteError`` unless ``path`` can take a file: its directory exists, is a directory and
    is writable, and ``path`` is not a directory nor a special file nnspec refuses. Nothing is created."""
    path = Path(path)
    target = _target(path)
    try:
        st = os.stat(target)
    except (FileNotFoundError, NotADirectoryError):
        st = None  # absent, or under a file: the checks of the parent below say which
    except OSError as exc:
        raise _from_oserror(path, exc) from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise WriteError(path, "it is a directory", errno.EISDIR)
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            return  # written in place
        if not stat.S_ISREG(st.st_mode):
            raise WriteError(path, "it is a special file (not a regular file, character device or FIFO)")
    parent = target.parent
    if not parent.exists():
        raise WriteError(path, f"directory {parent} does not exist", errno.ENOENT)
    if not parent.is_dir():
        raise WriteError(path, f"{parent} is not a directory", errno.ENOTDIR)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WriteError(path, f"permission denied in directory {parent}", errno.EACCES)
    if st is not None and not os.access(target, os.W_OK):
        raise WriteError(path, "permission denied (the file is read-only)", errno.EACCES)


def check_output_dir(path: Path | str) -> None:
    """Raise ``WriteError`` unless ``path`` is a directory or can be created as one (its nearest
    existing ancestor is a writable directory). Whether it is empty is the caller's business."""
    path = Path(path)
    probe = path
    while not os.path.lexists(probe):
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        what = "it is" if probe == path else f"{probe} is"
        raise WriteError(path, f"{what} not a directory", errno.ENOTDIR)
    if probe != path and not os.access(probe, os.W_OK | os.X_OK):
        raise WriteError(path, f"permission denied in directory {probe}", errno.EACCES)


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_staged(fd: int, data: bytes, tmp: Path) -> None:
    """Write ``data`` to the temporary file ``tmp`` (open as ``fd``); under ``NNSPEC_TEST_PAUSE_WRITE``,
    pause half-way for the test that named the FIFO (the module docstring says how)."""
    fifo = os.environ.get(PAUSE_WRITE_ENV)
    if not fifo:
        _write_all(fd, data)
        return
    half = len(data) // 2
    _write_all(fd, memoryview(data)[:half])
    with open(fifo, "w", encoding="utf-8") as signal_test:  # blocks until the test reads
        signal_test.write(f"{tmp}\n")
    with open(fifo, encoding="utf-8") as wait:  # blocks until the test opens the FIFO to let the write go on
        wait.read()
    _write_all(fd, memoryview(data)[half:])


def _write_in_place(path: Path, target: Path, data: bytes) -> None:
    """A character device or FIFO: open it for writing (a FIFO waits for a reader) and write."""
    try:
        fd = os.open(target, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            _write_all(fd, data)
        finally:
            os.close(fd)
    except OSError as exc:
        raise _from_oserror(path, exc) from None


def _new_file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _stage(path: Path, data: bytes) -> Path | None:
    """Write ``data`` to a fresh temporary file beside ``path``'s target, with the target's mode,
    fsynced; return its name (None when the target is written in place instead, and then already
    written). On failure the temporary file is removed and ``WriteError`` raised."""
    _ignore_sigxfsz()
    check_output_path(path)
    target = _target(path)
    try:
        st = os.stat(target)
    except FileNotFoundError:
        st = None
    except OSError as exc:
        raise _from_oserror(path, exc) from None
    if st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
        _write_in_place(path, target, data)
        return None
    tmp = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        tmp = Path(name)
        try:
            _write_staged(fd, data, tmp)
            os.fchmod(fd, stat.S_IMODE(st.st_mode) if st is not None else _new_file_mode())
            if st is not None and (st.st_uid, st.st_gid) != (os.getuid(), os.getgid()):
                try:
                    os.fchown(fd, st.st_uid, st.st_gid)
                except PermissionError:
                    pass  # an unprivileged user cannot give a file away: it becomes theirs, as with `cp`
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        _remove(tmp)
        raise _from_oserror(path, exc) from None
    except BaseException:
        _remove(tmp)
        raise
    return tmp


def _remove(tmp: Path | None) -> None:
    if tmp is not None:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def _commit(path: Path, tmp: Path) -> None:
    """Rename a staged temporary file over ``path``'s target and fsync the directory."""
    target = _target(path)
    try:
        os.replace(tmp, target)
    except OSError as exc:
        _remove(tmp)
        raise _from_oserror(path, exc) from None
    try:
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # the file is in place; a directory that cannot be fsynced (some file systems) is not an error


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else bytes(data)


def write_file(path: Path | str, data: bytes | str) -> None:
    """Write ``data`` (``str`` as UTF-8) to ``path`` as the module docstring promises: atomically for
    a regular file (old or new content, never a mix; no temporary file left), in place for a
    character device or FIFO; ``WriteError`` naming ``path`` otherwise."""
    path = Path(path)
    tmp = _stage(path, _as_bytes(data))
    if tmp is not None:
        _commit(path, tmp)


def write_files(files: Mapping[Path, bytes | str]) -> None:
    """Write several files so that they appear together: each is staged to its temporary file first
    and only when all are staged are they renamed, in the order given (put the file that marks
    the group complete last). If any staging fails, every staged file is removed, none of the
    targets has changed and ``WriteError`` is raised."""
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in files.items():
            tmp = _stage(Path(path), _as_bytes(data))
            if tmp is not None:
                staged.append((Path(path), tmp))
    except BaseException:
        for _, tmp in staged:
            _remove(tmp)
        raise
    for i, (path, tmp) in enumerate(staged):
        try:
            _commit(path, tmp)
        except WriteError:
            for _, later in staged[i + 1:]:
                _remove(later)
            raise
