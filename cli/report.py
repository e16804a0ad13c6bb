"""``nnspec report RUN_DIR...``: compare runs in a table and overlay their curves."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from cli.exit_codes import EXIT_ERRORS
from cli.output import check_output, write_errors_exit


def report(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN_DIR...", help="Run directories written by `nnspec "
                                          "train`; the first is the base the others are compared with."),
    plot: Path = typer.Option(Path("report.png"), "--plot", help="Where to write the overlaid curves (PNG)."),
) -> None:
    """Compare training runs: spec changes against the first run, final loss and metrics, time,
    outcome — and one PNG with their curves overlaid.

    A directory that is not a run, or a run file that is corrupt, is an error (exit 2, nothing
    written); a run missing some files is reported with a warning saying what is missing.

    Examples:

      nnspec report runs/digits_mlp-20261125-101500 runs/digits_mlp-20261125-103000

      nnspec report runs/* --plot comparison.png
    """
    from tools.report import ReportError, comparison_table, load_run, plot_runs

    check_output(plot)
    runs, failed = [], False
    for path in run_dirs:  # every broken run is named, not only the first
        try:
            runs.append(load_run(path))
        except ReportError as exc:
            print(f"{exc.path}: error: {exc.reason}", file=sys.stderr)
            failed = True
    if failed:
        raise typer.Exit(EXIT_ERRORS)  # nothing printed or written: a report without a run would mislead
    for run in runs:
        for note in run.notes:
            print(f"{run.path}: warning: {note}", file=sys.stderr)
    typer.echo(comparison_table(runs))
    if any(r.history for r in runs):
        with write_errors_exit():
            plot_runs(plot, runs)
        typer.echo(f"\ncurves: {plot}")
