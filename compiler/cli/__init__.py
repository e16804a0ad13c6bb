"""The ``nnspec`` command line: one Typer app, one small module per command.

Every command is a thin function over a library call. Errors a user can cause print as
``path:line:col: error: ...`` and exit 2; nothing a user does should show a traceback
(set ``NNSPEC_DEBUG=1`` to see one for an internal error).
"""

from __future__ import annotations

import os
import sys

import typer

from compiler import __version__
from compiler.cli import check, compile_cmd, diagnose, equiv, fmt, lr_find, report, schema, train

app = typer.Typer(
    name="nnspec",
    help="nnspec: compile neural-network specs to NumPy, PyTorch and Keras, and prove they agree.\n\n"
         "Examples:\n\n  nnspec check specs/*.nns\n\n  nnspec fmt --check specs/\n\n"
         "  nnspec compile specs/digits_mlp.nns -o digits.ir.json",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"nnspec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", help="Print the version and exit.",
                                       callback=_version, is_eager=True)) -> None:
    """nnspec: compile neural-network specs to NumPy, PyTorch and Keras, and prove they agree."""


app.command("check")(check.check)
app.command("fmt")(fmt.fmt)
app.command("compile")(compile_cmd.compile_)
app.command("schema")(schema.schema)
app.command("train")(train.train)
app.command("equiv")(equiv.equiv)
app.command("report")(report.report)
app.command("lr-find")(lr_find.lr_find)
app.command("diagnose")(diagnose.diagnose)


def main() -> None:
    """Console-script entry point: run the app; an internal error is one line, not a traceback."""
    try:
        app()
    except (KeyboardInterrupt, BrokenPipeError):
        sys.exit(130)
    except Exception as exc:  # a bug in nnspec, not a user error: say so briefly
        if os.environ.get("NNSPEC_DEBUG"):
            raise
        print(f"nnspec: internal error: {type(exc).__name__}: {exc} (set NNSPEC_DEBUG=1 for details)",
              file=sys.stderr)
        sys.exit(70)
