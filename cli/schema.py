"""``nnspec schema``: print the JSON Schema of the IR."""

from __future__ import annotations

import json

import typer


def schema() -> None:
    """Print the JSON Schema of the compiled IR (what `nnspec compile` writes).

    Example:

      nnspec schema > nnspec-ir.schema.json
    """
    from compiler.ir.spec import Spec

    typer.echo(json.dumps(Spec.model_json_schema(), indent=2))
