"""``nnspec fmt FILE...``: rewrite specs in the one canonical format, keeping comments."""

from __future__ import annotations

import difflib
from pathlib import Path

import typer

from cli.common import expand_paths, print_diagnostics, write_stdout_utf8
from cli.exit_codes import EXIT_ERRORS, EXIT_FINDINGS, EXIT_OK
from spec_lang.diagnostics import SpecError
from spec_lang.reading import read_source


def fmt(
    files: list[Path] = typer.Argument(..., help="Spec files or directories; '-' reads stdin, writes stdout."),
    check: bool = typer.Option(False, "--check", help="Write nothing; print a diff and exit 1 if a file "
                                                      "is not formatted."),
) -> None:
    """Format spec files canonically (idempotent; comments kept). A file with errors is left untouched.

    Examples:

      nnspec fmt specs/

      nnspec fmt --check specs/*.nns      # in CI or a pre-commit hook

      cat model.nns | nnspec fmt -
    """
    from runtime.files import WriteError, write_file
    from cli.output import report_write_error
    from spec_lang.formatter import format_source

    code = EXIT_OK
    for path in ([Path("-")] if [str(f) for f in files] == ["-"] else expand_paths(files)):
        try:
            source = read_source(path)  # '-' is stdin; regular files only, size-limited, UTF-8
            formatted = format_source(source.text, source.path)
        except SpecError as err:
            print_diagnostics(err.diagnostics, err.source)
            code = EXIT_ERRORS
            continue
        if str(path) == "-":
            write_stdout_utf8(formatted)
        elif formatted != source.text:
            if check:
                diff = difflib.unified_diff(source.text.splitlines(keepends=True), formatted.splitlines(keepends=True),
                                            f"{path}", f"{path} (formatted)")
                write_stdout_utf8("".join(diff))
                code = max(code, EXIT_FINDINGS)
            else:
                try:
                    write_file(path, formatted)  # through a symlink to its target; mode and owner kept
                except WriteError as exc:
                    code = max(code, report_write_error(exc))
                    continue
                typer.echo(f"formatted {path}", err=True)
    raise typer.Exit(code)
