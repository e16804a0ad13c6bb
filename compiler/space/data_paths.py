"""A concrete spec written into another folder than its search spec finds the same data file: the one rule.

A relative data file path in a spec is found from the spec's own folder (``runtime.data``). A point of a
search space written elsewhere (``best.nns`` and ``trials/NNNN/spec.nns`` in a study directory, ``nnspec fix
--out FILE``) would look for it in the wrong folder, so its path is rewritten:

* an absolute path, or one starting with ``~``, is written as it is;
* a relative path becomes the path from the written spec's folder to the same file
  (``os.path.relpath``, symbolic links of both folders resolved, ``/`` separators); unchanged when the two
  folders are the same; absolute when no relative path exists (another drive);
* a bundled or generated data set (``digits``, ``spirals(...)``) is not a path and is left alone.

The train section's ``data`` is the one setting that names a file: a string (``data = "x.npz"``), the
path of ``file("x.csv", label="y")``, or a constant holding such a string (``data = train_file``: the
string is written in place of the name).
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from spec_lang import ast


def relocated(path: str, spec_dir: Path, written_dir: Path) -> str:
    """``path``, relative to ``spec_dir`` (unless absolute), as a spec in ``written_dir`` must write it to
    name the same file (see the module docstring)."""
    if not path or os.path.isabs(path) or path.startswith("~"):
        return path
    spec_real, written_real = os.path.realpath(spec_dir), os.path.realpath(written_dir)
    if spec_real == written_real:
        return path
    head, tail = os.path.split(path)
    target = os.path.join(os.path.realpath(os.path.join(spec_real, head)), tail)
    try:
        return Path(os.path.relpath(target, written_real)).as_posix()
    except ValueError:  # no relative path between two drives
        return target


def relocate_data(module: ast.Module, spec_dir: Path, written_dir: Path) -> ast.Module:
    """``module`` with its train section's data file path ``relocated`` from ``spec_dir`` to ``written_dir``
    (spans kept); the module itself when it names no data file."""
    constants = {s.name: s.value for s in reversed(module.statements) if isinstance(s, ast.ConstDef)}

    def text_of(expr: ast.Expr) -> ast.String | None:
        seen: set[str] = set()
        while isinstance(expr, ast.Name) and expr.id in constants and expr.id not in seen:
            seen.add(expr.id)
            expr = constants[expr.id]
        return expr if isinstance(expr, ast.String) else None

    def moved(expr: ast.Expr) -> ast.Expr:
        string = text_of(expr)
        if string is None:
            return expr
        return ast.String(relocated(string.value, spec_dir, written_dir), expr.span)

    def data(value: ast.Expr) -> ast.Expr:
        if isinstance(value, ast.Call) and value.func == "file":
            args = []
            for i, arg in enumerate(value.args):
                is_path = arg.name == "path" or (arg.name is None and i == 0)
                args.append(replace(arg, value=moved(arg.value)) if is_path else arg)
            return replace(value, args=tuple(args))
        return moved(value)

    statements = []
    for stmt in module.statements:
        if isinstance(stmt, ast.TrainDef):
            stmt = replace(stmt, settings=tuple(replace(s, value=data(s.value)) if s.name == "data" else s
                                                for s in stmt.settings))
        statements.append(stmt)
    return replace(module, statements=tuple(statements))


__all__ = ["relocate_data", "relocated"]
