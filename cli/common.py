"""What the commands share: compiling files and printing diagnostics."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from cli.exit_codes import EXIT_ERRORS
from spec_lang.diagnostics import Diagnostic, SpecError, render_diagnostics
from spec_lang.span import Source

if TYPE_CHECKING:
    from compiler.pipeline import CompileResult

SPEC_SUFFIXES = (".nns",)


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; a directory stands for the spec files (``*.nns``) inside it, sorted.

    A directory without spec files is an error (exit 2): a check that checks nothing must not pass.
    """
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.suffix in SPEC_SUFFIXES)
            if not found:
                print(f"{p}: error: no spec files (*.nns) in this directory", file=sys.stderr)
                raise SystemExit(EXIT_ERRORS)
            out.extend(found)
        else:
            out.append(p)
    return out


def print_diagnostics(diagnostics: list[Diagnostic], source: Source | None) -> None:
    """Print the diagnostics of one file to stderr: the first ``MAX_REPORTED`` (with their notes),
    then one line saying how many more there are (``spec_lang.diagnostics.render_diagnostics``)."""
    for text in render_diagnostics(diagnostics, source):
        print(text, file=sys.stderr)


def write_stdout_utf8(text: str) -> None:
    """Write ``text`` to stdout as UTF-8 bytes, whatever the locale (``LC_ALL=C``, a Latin-1 terminal):
    a spec written to stdout (``fmt -``) or its IR (``compile``) is the same file everywhere."""
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.buffer.flush()


def try_compile(path: Path, ignore: Iterable[str] = ()) -> CompileResult | None:
    """Compile ``path``; on errors print them all and return None. The result's warnings are those
    that neither ``ignore`` (lint codes, from ``--ignore``) nor the spec's suppression comments silence."""
    from compiler.pipeline import compile_file  # here, so that `nnspec fmt` does not load the compiler

    try:
        return compile_file(path, ignore)
    except SpecError as err:
        report_spec_error(err, path)
        return None


def report_spec_error(err: SpecError, path: Path | str) -> None:
    """Print a spec's errors (``print_diagnostics``) and the line ``path: N errors``."""
    print_diagnostics(err.diagnostics, err.source)
    n = sum(d.severity == "error" for d in err.diagnostics)
    print(f"{path}: {n} error{'s' if n != 1 else ''}", file=sys.stderr)


def load_space_or_exit(path: Path):
    """The search space of the spec at ``path`` (``compiler.space.load_space``; an empty one for a plain
    spec); its errors printed (``report_spec_error``), exit 2."""
    from compiler.space import load_space

    try:
        return load_space(path)
    except SpecError as err:
        report_spec_error(err, path)
        raise SystemExit(EXIT_ERRORS) from None
    except OSError as exc:
        print(f"{path}: error: {exc.strerror or exc}", file=sys.stderr)
        raise SystemExit(EXIT_ERRORS) from None
