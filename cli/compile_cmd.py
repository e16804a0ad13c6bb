"""``nnspec compile SPEC [-o FILE]``: write the validated IR as JSON, the artifact backends consume."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.common import print_diagnostics, try_compile, write_stdout_utf8
from cli.exit_codes import EXIT_ERRORS
from cli.options import ignore_option
from cli.output import check_output, write_output


def compile_(
    spec: Path = typer.Argument(..., help="The spec file."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write the IR here instead of stdout."),
    ignore: list[str] = ignore_option(),
) -> None:
    """Compile a spec to its IR (JSON). `nnspec train` accepts a spec or such a file.

    Examples:

      nnspec compile specs/digits_mlp.nns -o digits.ir.json

      nnspec compile specs/seed_cnn.nns | jq '.layers[].output_shape'
    """
    check_output(output)
    result = try_compile(spec, ignore)
    if result is None:
        raise typer.Exit(EXIT_ERRORS)
    print_diagnostics(result.warnings, result.source)
    text = result.spec.model_dump_json(indent=2) + "\n"
    if output is None:
        write_stdout_utf8(text)
    else:
        write_output(output, text)
