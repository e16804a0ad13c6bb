"""``nnspec check FILE...``: validate specs, print a Keras-style summary and the warnings.

A spec with search dimensions is checked as a space (``compiler.space_check``): its dimensions and size,
the summary of its base point, and every error or warning found at the checked points, once each, at
the dimension that causes it."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from cli.common import expand_paths, print_diagnostics, report_spec_error
from cli.exit_codes import EXIT_ERRORS, EXIT_FINDINGS, EXIT_OK
from cli.options import ignore_option
from compiler.space_check import SAMPLES
from compiler.summary import render_summary


def check(
    files: list[Path] = typer.Argument(..., help="Spec files (or directories of *.nns files)."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 when there are warnings."),
    as_json: bool = typer.Option(False, "--json", help="Print the compiled IR as JSON instead of a summary "
                                                      "(for a search space: the space and its base point's IR)."),
    ignore: list[str] = ignore_option(),
    samples: int = typer.Option(SAMPLES, "--samples", min=0, metavar="N",
                                help="For a spec with search dimensions: how many seeded random points to "
                                     "check besides the base point and the extremes of every dimension."),
) -> None:
    """Validate spec files: summary table per model, then warnings.

    Exit 0 when clean, 1 on warnings with --strict, 2 on errors.

    A spec with search dimensions (choice, int_range, ...) is checked as a space: its dimensions and
    size are listed, then the base point, the extremes of every dimension and --samples random points
    are compiled; each problem is reported once, at the dimension that causes it.

    Examples:

      nnspec check specs/digits_mlp.nns

      nnspec check --strict specs/

      nnspec check --json specs/digits_mlp.nns > digits.ir.json

      nnspec check --ignore learning-rate,data-shape specs/

      nnspec check --samples 100 specs/digits_mlp_search.nns
    """
    code = EXIT_OK
    documents = []
    for path in expand_paths(files):
        source = _read(path)
        space = _space_of(path, source) if source is not None else None
        if space is None:
            code = EXIT_ERRORS
            continue
        if space:
            found = _check_space(path, space, samples, ignore, as_json)
            if found.errors:
                code = EXIT_ERRORS
            elif found.warnings and strict and code == EXIT_OK:
                code = EXIT_FINDINGS
            if as_json:
                documents.append(_space_json(found))
            continue
        result = _compile(path, source, ignore)
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


def _read(path: Path):
    """The spec's text, read once (a file, or ``-``: standard input, under the same limit and decoding as
    every command reads a spec); None after printing why it cannot be read."""
    from spec_lang.diagnostics import SpecError
    from spec_lang.reading import read_source

    try:
        return read_source(path)
    except SpecError as err:
        report_spec_error(err, path)
        return None


def _compile(path: Path, source, ignore: list[str]):
    """The plain spec's compile result; None after printing its errors (as ``try_compile`` does)."""
    from compiler.pipeline import compile_source
    from spec_lang.diagnostics import SpecError

    try:
        return compile_source(source, ignore)
    except SpecError as err:
        report_spec_error(err, path)
        return None


def _space_of(path: Path, source):
    """The search space of ``source`` (the spec at ``path``): an empty (false) one for a spec without
    dimensions, which then takes the plain path unchanged; None after printing its errors. A text that
    names no dimension function is not parsed here at all."""
    from spec_lang.diagnostics import SpecError

    from compiler.space import DIMENSION_FUNCTIONS, space_of

    if not any(name in source.text for name in DIMENSION_FUNCTIONS):
        return False
    try:
        return space_of(source.text, source.path)
    except SpecError as err:
        report_spec_error(err, path)
        return None


def _check_space(path: Path, space, samples: int, ignore: list[str], as_json: bool):
    """Check the space and print what was found (the table and base point's summary unless ``as_json``)."""
    from compiler.space_check import check_space
    from compiler.space_summary import render_space

    found = check_space(space, samples=samples, ignore=ignore)
    if not as_json:
        typer.echo(f"{path}")
        typer.echo(render_space(space))
        if found.skipped:
            typer.echo(f"checked {found.points:,} of {found.points + found.skipped:,} distinct points: the base "
                       "point and the first extremes; the others (the last dimensions' extremes, the samples) "
                       "were left out: the space is too large to check whole in a few seconds")
        else:
            typer.echo(f"checked {found.points:,} distinct point{'s' if found.points != 1 else ''}: the base "
                       f"point, the extremes of every dimension, {samples:,} seeded "
                       f"sample{'s' if samples != 1 else ''}")
        if found.base is not None:
            typer.echo("")
            typer.echo("base point (every dimension at its low end or first option):")
            typer.echo(render_summary(found.base.spec))
        typer.echo("")
    print_diagnostics([*found.errors, *found.warnings], space.source)
    if found.errors:
        n = len(found.errors)
        print(f"{path}: {n} error{'s' if n != 1 else ''} in the search space", file=sys.stderr)
    return found


def _space_json(found) -> dict:
    """``--json`` for a space: the space (``compiler.space_summary.space_document``), the number of points
    checked, and the base point's IR (None when it does not compile)."""
    from compiler.space_summary import space_document

    return {"space": {**space_document(found.space), "points_checked": found.points,
                      "points_skipped": found.skipped},
            "base": json.loads(found.base.spec.model_dump_json()) if found.base is not None else None}
