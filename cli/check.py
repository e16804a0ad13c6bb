"""``nnspec check FILE...``: validate specs, print a Keras-style summary and the warnings."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.common import expand_paths, print_diagnostics, try_compile
from cli.exit_codes import EXIT_ERRORS, EXIT_FINDINGS, EXIT_OK
from cli.options import ignore_option
from compiler.summary import render_summary


def check(
    files: list[Path] = typer.Argument(..., help="Spec files (or directories of *.nns files)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings."),
    as_json: bool = typer.Option(False, "--json", help="Print the compiled IR as JSON instead of a summary."),
    ignore: list[str] = ignore_option(),
) -> None:
    """Validate spec files: summary table per model, then warnings.

    Exit 0 when clean, 1 on warnings with --strict, 2 on errors.

    Examples:

      nnspec check specs/digits_mlp.nns

      nnspec check --strict specs/

      nnspec check --json specs/digits_mlp.nns > digits.ir.json

      nnspec check --ignore learning-rate,data-shape specs/
    """
    code = EXIT_OK
    documents = []
    for path in expand_paths(files):
        result = try_compile(path, ignore)
        if result is None:
            code = EXIT_ERRORS
            continue
        if as_json:
            documents.append(json.loads(result.spec.model_dump_json()))
        else:
            typer.echo(f"{path}")
            typer.echo(render_summary(result.spec))
            typer.echo("")
        print_diagnostics(result.warnings, result.source)
        if result.warnings and strict and code == EXIT_OK:
            code = EXIT_FINDINGS
    if as_json and documents:
        typer.echo(json.dumps(documents[0] if len(documents) == 1 else documents, indent=2))
    raise typer.Exit(code)
