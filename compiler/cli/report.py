"""``nnspec report RUN_DIR...``: compare runs in a table and overlay their curves."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from compiler.cli.common import EXIT_ERRORS


def report(
    run_dirs: list[Path] = typer.Argument(..., metavar="RUN_DIR...", help="Run directories written by `nnspec "
                                          "train`; the first is the base the others are compared with."),
    plot: Path = typer.Option(Path("report.png"), "--plot", help="Where to write the overlaid curves (PNG)."),
) -> None:
    """Compare training runs: spec changes against the first run, final loss and metrics, time,
    outcome — and one PNG with their curves overlaid.

    Examples:

      nnspec report runs/digits_mlp-20261125-101500 runs/digits_mlp-20261125-103000

      nnspec report runs/* --plot comparison.png
    """
    from backends.report import ReportError, comparison_table, load_run, plot_runs

    try:
        runs = [load_run(path) for path in run_dirs]
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(EXIT_ERRORS)
    typer.echo(comparison_table(runs))
    if any(r.history for r in runs):
        plot_runs(plot, runs)
        typer.echo(f"\ncurves: {plot}")
