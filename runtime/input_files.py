"""Reading a file a user gives nnspec — a data file, a run directory's files, a checkpoint — without hanging,
without exhausting memory, and with a one-line message (never a traceback) when it is not what it claims.

Every such read goes through ``open_input`` (or ``read_input_bytes`` / ``read_input_text`` on top of it):

- **Regular files only.** ``os.stat`` comes first, so a FIFO, a character or block device (``/dev/zero``,
  ``/dev/urandom``), a socket or a directory is refused at once, before anything is opened. The file is then
  opened with ``O_NONBLOCK`` and checked again with ``fstat``: a file swapped for a FIFO between the two
  calls is refused too, and opening never blocks.
- **The data budget.** No file larger than its limit is read, and no array larger than the budget is
  allocated (``runtime.safe_npz`` checks declared sizes before decompressing). The budget is a quarter of
  the physical memory, or of the container's memory limit (cgroup) when that is lower; the environment
  variable ``NNSPEC_DATA_BUDGET`` overrides it, in bytes or with a binary suffix (``512M``, ``2G``, ``1T``).
  Loading data costs a few times what is read (a copy in the training dtype, the shuffled split).

Failures raise ``InputFileError``, whose ``str()`` is the whole message and names the file as the caller
showed it.
"""

from __future__ import annotations

import io
import os
import re
import stat
from pathlib import Path

BUDGET_VARIABLE = "NNSPEC_DATA_BUDGET"
BUDGET_FRACTION = 4  # the default budget is 1/BUDGET_FRACTION of the memory
_UNITS = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")


class InputFileError(Exception):
    """A file nnspec will not read: missing, not a regular file, too large for the budget, or corrupt.
    ``str(error)`` is the whole message, naming the file; it is meant for the user, without a traceback."""


def describe_bytes(n: int) -> str:
    """``n`` bytes for people, in binary units with three significant digits: ``116 TiB``, ``5.81 GiB``,
    ``200 bytes``."""
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            value = n / size
            return f"{value:.3g} {unit}" if value < 1000 else f"{value:,.0f} {unit}"
    return f"{n} byte{'s' if n != 1 else ''}"


def memory_size() -> int:
    """The memory this process may use, in bytes: the physical memory, or the cgroup's limit when lower."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not a POSIX system
        total = 8 * 2**30
    for name in _CGROUP_LIMITS:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and 0 < int(text) < total:
            total = int(text)
    return total


def parse_bytes(text: str) -> int:
    """``"2G"`` → 2·2³⁰: a whole number of bytes with an optional binary suffix K, M, G or T (``GiB``, ``gb``
    and ``g`` are read alike). ``ValueError`` for anything else."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*", text, re.IGNORECASE)
    if match is None:
        raise ValueError(text)
    value = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if value <= 0:
        raise ValueError(text)
    return value


def data_budget() -> int:
    """The data budget in bytes (module docstring): ``NNSPEC_DATA_BUDGET`` when set, else a quarter of the
    memory. ``InputFileError`` when the variable is set to something that is not a size."""
    text = os.environ.get(BUDGET_VARIABLE, "").strip()
    if not text:
        return memory_size() // BUDGET_FRACTION
    try:
        return parse_bytes(text)
    except ValueError:
        raise InputFileError(f"{BUDGET_VARIABLE}: expected a size in bytes such as 536870912, 512M or 2G, "
                             f"received '{text}'") from None


def budget_hint(budget: int) -> str:
    """The words that follow a refusal for size: the budget and how to change it."""
    source = f"set by {BUDGET_VARIABLE}" if os.environ.get(BUDGET_VARIABLE, "").strip() else \
        f"a quarter of this machine's memory; set {BUDGET_VARIABLE} to change it"
    return f"the data budget of {describe_bytes(budget)} ({source})"


def file_kind(mode: int) -> str:
    """What a file of this ``st_mode`` is, with its article: ``a FIFO (named pipe)``, ``a directory``."""
    for test, words in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                        (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                        (stat.S_ISSOCK, "a socket"), (stat.S_ISREG, "a regular file")):
        if test(mode):
            return words
    return "a special file"  # pragma: no cover - no other kinds on POSIX


def _os_reason(exc: OSError) -> str:
    return exc.strerror.lower() if exc.strerror else str(exc)


def _refuse_unless_regular(st: os.stat_result, shown: str) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise InputFileError(f"{shown} is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputFileError(f"{shown} is {file_kind(st.st_mode)}, not a regular file; nnspec reads only regular "
                             "files")


def _refuse_if_too_large(size: int, shown: str, max_bytes: int | None, limit: str | None) -> None:
    if max_bytes is not None and size > max_bytes:
        raise InputFileError(f"{shown} is {describe_bytes(size)}, over "
                             f"{limit or f'the limit of {describe_bytes(max_bytes)}'}")


def check_regular_file(path: Path | str, shown: str | None = None) -> os.stat_result:
    """``os.stat(path)`` when ``path`` is an existing regular file (a symbolic link to one counts); else
    ``InputFileError`` saying what it is. Opens nothing, so it never blocks."""
    shown = shown or f"'{path}'"
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise InputFileError(f"{shown} does not exist") from None
    except OSError as exc:
        raise InputFileError(f"{shown} cannot be read: {_os_reason(exc)}") from None
    except ValueError:  # a NUL character in the path
        raise InputFileError(f"{shown} is not a valid path (it contains a NUL character)") from None
    _refuse_unless_regular(st, shown)
    return st


def open_input(path: Path | str, shown: str | None = None, *, max_bytes: int | None = None,
               limit: str | None = None) -> io.BufferedReader:
    """Open ``path`` for binary reading, guaranteeing that it is an existing regular file of at most
    ``max_bytes`` bytes (no limit when None), without ever blocking. ``shown`` names the file in messages
    (default: the path in quotes); ``limit`` describes ``max_bytes`` in the message (e.g. ``budget_hint``).
    Raises ``InputFileError`` for a missing or unreadable path, a directory, a FIFO, a device, a socket or
    a file over the limit."""
    shown = shown or f"'{path}'"
    st = check_regular_file(path, shown)
    _refuse_if_too_large(st.st_size, shown, max_bytes, limit)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise InputFileError(f"{shown} cannot be read: {_os_reason(exc)}") from None
    try:
        st = os.fstat(fd)  # the file actually opened, in case the path changed since os.stat
        _refuse_unless_regular(st, shown)
        _refuse_if_too_large(st.st_size, shown, max_bytes, limit)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_input_bytes(path: Path | str, shown: str | None = None, *, max_bytes: int | None = None,
                     limit: str | None = None) -> bytes:
    """The bytes of ``path``, with ``open_input``'s guarantees; never more than ``max_bytes`` (a file that
    grows while it is read is refused)."""
    shown = shown or f"'{path}'"
    with open_input(path, shown, max_bytes=max_bytes, limit=limit) as fh:
        try:
            data = fh.read() if max_bytes is None else fh.read(max_bytes + 1)
        except OSError as exc:
            raise InputFileError(f"{shown} cannot be read: {_os_reason(exc)}") from None
    if max_bytes is not None and len(data) > max_bytes:
        _refuse_if_too_large(len(data), shown, max_bytes, limit)
    return data


def read_input_text(path: Path | str, shown: str | None = None, *, max_bytes: int | None = None,
                    limit: str | None = None) -> str:
    """The text of ``path`` decoded as UTF-8 (a byte-order mark is dropped), whatever the locale, with
    ``read_input_bytes``' guarantees; invalid UTF-8 is an ``InputFileError`` naming the byte offset."""
    shown = shown or f"'{path}'"
    data = read_input_bytes(path, shown, max_bytes=max_bytes, limit=limit)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{shown} is not UTF-8 text (invalid byte at offset {exc.start})") from None


__all__ = ["BUDGET_VARIABLE", "InputFileError", "budget_hint", "check_regular_file", "data_budget", "describe_bytes",
           "file_kind", "memory_size", "open_input", "parse_bytes", "read_input_bytes", "read_input_text"]
