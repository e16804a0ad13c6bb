"""Reading a spec's text: the one way in for every command that takes a spec.

``read_source(path)`` guarantees, whatever the path names:

* only a regular file (or a link to one) is read; a directory, a named pipe (FIFO), a socket or a
  device such as ``/dev/zero`` or ``/dev/urandom`` is refused at once, without blocking or reading;
* at most ``MAX_SPEC_BYTES`` are read: a larger file is refused, whatever ``stat`` says its size is;
* the bytes are decoded as UTF-8 whatever the locale, a leading byte-order mark is dropped, and
  invalid UTF-8 is an error at the line and column of the first bad byte.

``read_stdin_source()`` reads ``-`` (standard input) under the same limit and decoding. Every failure
is a ``SpecError`` with one ``path: error: ...`` diagnostic, never an ``OSError`` or a traceback.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO

from spec_lang.diagnostics import Diagnostic, SpecError
from spec_lang.span import Source, Span

# 4 MiB: a thousand times the largest example spec (a few KB), and what the parser reads in a few
# seconds; larger input is refused before it is read, so no file can make nnspec read without end.
MAX_SPEC_BYTES = 4 * 1024 * 1024
STDIN_NAME = "<stdin>"
_BOM = b"\xef\xbb\xbf"

_KINDS = (
    (stat.S_ISDIR, "it is a directory"),
    (stat.S_ISFIFO, "it is a named pipe (FIFO), not a regular file"),
    (stat.S_ISSOCK, "it is a socket, not a regular file"),
    (stat.S_ISCHR, "it is a character device, not a regular file"),
    (stat.S_ISBLK, "it is a block device, not a regular file"),
)


def read_source(path: str | Path, limit: int = MAX_SPEC_BYTES) -> Source:
    """The text of spec file ``path`` (``-``: standard input), as described in the module docstring."""
    if str(path) == "-":
        return read_stdin_source(limit=limit)
    return decode_source(display_name(path), read_regular_file(path, limit, "spec file"))


def read_stdin_source(stream: BinaryIO | None = None, limit: int = MAX_SPEC_BYTES) -> Source:
    """Standard input (or ``stream``) as a spec: at most ``limit`` bytes, decoded as UTF-8."""
    stream = stream if stream is not None else sys.stdin.buffer
    try:
        data = stream.read(limit + 1)
    except OSError as exc:
        raise _file_error(STDIN_NAME, f"cannot read standard input: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise _file_error(STDIN_NAME, f"standard input is too large: more than {_size(limit)}")
    return decode_source(STDIN_NAME, data)


def read_regular_file(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of regular file ``path``, at most ``limit`` of them; ``SpecError`` otherwise.

    The file is checked with ``stat`` before it is opened and again after (``O_NONBLOCK``, so a file
    swapped for a FIFO in between cannot block), then read up to ``limit + 1`` bytes.
    """
    name = display_name(path)
    try:
        _check_regular(name, os.stat(path).st_mode, what)
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise _file_error(name, f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)
        _check_regular(name, info.st_mode, what)
        if info.st_size > limit:
            raise _file_error(name, f"{what} is too large: {info.st_size:,} bytes, more than {_size(limit)}")
        chunks, total = [], 0
        while total <= limit:
            chunk = os.read(fd, limit + 1 - total)
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    except OSError as exc:
        raise _file_error(name, f"cannot read {what}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if total > limit:
        raise _file_error(name, f"{what} is too large: more than {_size(limit)}")
    return b"".join(chunks)


def decode_source(path: str, data: bytes) -> Source:
    """``data`` decoded as UTF-8 (a leading byte-order mark dropped), or ``SpecError`` at the first bad byte."""
    if data.startswith(_BOM):
        data = data[len(_BOM):]
    try:
        return Source(path, data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        good = data[: exc.start].decode("utf-8", errors="replace")
        line = good.count("\n") + 1
        col = len(good) - (good.rfind("\n") + 1) + 1
        src = Source(path, data.decode("utf-8", errors="replace"))
        msg = f"spec file is not valid UTF-8: byte 0x{data[exc.start]:02x} cannot be decoded"
        raise SpecError([Diagnostic("error", msg, Span.point(path, line, col),
                                    "save the file as UTF-8")], src) from None


def display_name(path: str | Path) -> str:
    """``path`` as text that any UTF-8 output can carry: bytes the file system encoding could not
    decode (kept by Python as lone surrogates) are re-read as UTF-8, or shown as U+FFFD."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _check_regular(name: str, mode: int, what: str) -> None:
    if stat.S_ISREG(mode):
        return
    reason = next((text for test, text in _KINDS if test(mode)), "not a regular file")
    raise _file_error(name, f"cannot read {what}: {reason}")


def _file_error(name: str, message: str) -> SpecError:
    return SpecError([Diagnostic("error", message, None)], Source(name, ""))


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB" if n % (1024 * 1024) == 0 else f"{n:,} bytes"
