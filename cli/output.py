"""How every command writes user-facing files and reports a failed write.

All writes go through ``runtime.files`` (atomic, symlinks followed, device nodes written in
place, permissions kept). Here its ``WriteError`` becomes the CLI's answer: one line
``path: error: cannot write this file: <reason>`` and the documented exit code — ``EXIT_IO`` (74)
when the file system failed the write (disk full, file too large, quota, I/O error),
``EXIT_ERRORS`` (2) for a bad output path (missing directory, a directory, read-only, ...).
Commands call ``check_output`` on their output paths before they start work, so that a long
computation never fails at its end for a path that was bad from the start.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

from cli.exit_codes import EXIT_ERRORS, EXIT_IO


def write_error_code(exc) -> int:
    """The exit code for a ``runtime.files.WriteError``."""
    return EXIT_IO if exc.resource else EXIT_ERRORS


def report_write_error(exc) -> int:
    """Print a ``WriteError`` as ``path: error: ...`` and return its exit code."""
    print(f"{exc.path}: error: cannot write this file: {exc.reason}", file=sys.stderr)
    return write_error_code(exc)


@contextmanager
def write_errors_exit() -> Iterator[None]:
    """Inside it, a ``WriteError`` is printed and ends the command with its exit code."""
    from runtime.files import WriteError

    try:
        yield
    except WriteError as exc:
        raise typer.Exit(report_write_error(exc)) from None


def check_output(path: Path | None) -> None:
    """Exit 2 with a message unless ``path`` (if given) can take a file (``runtime.files.check_output_path``)."""
    if path is None:
        return
    from runtime.files import check_output_path

    with write_errors_exit():
        check_output_path(path)


def check_output_directory(path: Path | None) -> None:
    """Exit 2 with a message unless ``path`` (if given) is or can become a directory."""
    if path is None:
        return
    from runtime.files import check_output_dir

    with write_errors_exit():
        check_output_dir(path)


def write_output(path: Path, data: bytes | str) -> None:
    """``runtime.files.write_file``; a failure is printed and exits with its code."""
    from runtime.files import write_file

    with write_errors_exit():
        write_file(path, data)
