"""``nnspec emit SPEC --backend torch|keras``: write a spec as a standalone PyTorch or Keras program."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from cli.exit_codes import EXIT_ERRORS
from cli.options import ignore_option
from cli.output import check_output, write_output
from cli.train import fail, load_spec


class Target(str, Enum):
    torch = "torch"
    keras = "keras"


def emit(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="A spec file, or an IR .json from `nnspec compile`."),
    backend: Target = typer.Option(Target.torch, "--backend", "-b", help="The framework to write for."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write the program (default: "
                                          "standard output)."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set name or .npz/.csv path (overrides the spec), "
                                       "as for `nnspec train`; the program's --data option defaults to it."),
    ignore: list[str] = ignore_option(),
) -> None:
    """Write SPEC as readable, standalone PyTorch or Keras source that builds the model and trains
    it with the spec's settings, meaning what nnspec means: the same layers, initializer
    distributions, losses, regularizers, optimizer update rules, schedule, data and validation
    split. The program imports only its framework and numpy (and scikit-learn for a bundled
    data set), never nnspec.

    Run the program (`python model.py --epochs 5 --save weights.npz`) or import it: build_model(),
    load_data(), train(model, data), get_weights/set_weights in nnspec's weight names, predict,
    train_step.

    A data file (the spec's, or --data's) is written into the program relative to the program's
    own directory (to the current directory when the program goes to standard output), never as
    an absolute path of this machine unless it was written so; `python model.py --data FILE`
    trains on another file.

    Examples:

      nnspec emit specs/digits_mlp.nns -o digits_torch.py

      nnspec emit specs/vgg_cnn.nns --backend keras -o vgg_keras.py

      nnspec emit specs/regression_mlp.nns --data my_data.csv -o regression.py

      nnspec emit specs/digits_mlp.nns | python - --epochs 1
    """
    from tools.emit import EmitError, emit_source

    check_output(output)
    spec, _ = load_spec(spec_path, ignore)
    if spec is None:
        raise typer.Exit(EXIT_ERRORS)
    try:
        source = emit_source(spec, backend.value, spec_path=spec_path, data=data, program_path=output)
    except EmitError as exc:
        fail(spec_path, str(exc))
    if output is None:
        sys.stdout.write(source)
        return
    write_output(output, source)
    typer.echo(f"wrote {output} ({backend.value}, {len(source.splitlines())} lines)", err=True)
