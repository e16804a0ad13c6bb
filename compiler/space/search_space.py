"""``SearchSpace``: the dimensions of a spec and what can be done with a point of it.

A reader follows one dimension from the source to Optuna: ``extract`` finds it (name, path, values,
conditions), ``suggest`` asks the trial for it by that name with Optuna's signature for its kind, and
``concrete_text`` writes the spec with its value in place.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from compiler.space import fingerprint as _fingerprint
from compiler.space import sample as _sample
from compiler.space.data_paths import relocate_data
from compiler.space.dimensions import Condition, Dimension
from compiler.space.extract import extract
from compiler.space.point import active, concrete_module, holds, validate
from spec_lang import ast
from spec_lang.diagnostics import Diagnostic, SpecError
from spec_lang.formatter import format_module
from spec_lang.parser import parse
from spec_lang.reading import read_source
from spec_lang.span import Source


class SearchSpace:
    """The search dimensions of one spec (see the package docstring); falsy when it has none."""

    def __init__(self, module: ast.Module, source: Source, folder: Path | None = None):
        self.module = module
        self.source = source
        # where a relative data file is found from: the spec's folder (the current one for a text)
        self.folder = folder if folder is not None else _folder_of(source.path)
        try:
            dimensions, constant_conditions, calls = extract(module, source)
        except RecursionError:  # thousands of constants, each defined by the next, around a dimension
            raise SpecError([Diagnostic("error", "the spec nests constants or blocks too deeply to search", None)],
                            source) from None
        self.dimensions: tuple[Dimension, ...] = dimensions
        self._constant_conditions: dict[str, tuple[Condition, ...]] = constant_conditions
        self._calls: dict[str, ast.Call] = calls

    def __bool__(self) -> bool:
        return bool(self.dimensions)

    def __len__(self) -> int:
        return len(self.dimensions)

    def __repr__(self) -> str:
        return f"SearchSpace({self.source.path!r}, {[d.name for d in self.dimensions]})"

    def dimension(self, name: str) -> Dimension:
        """The dimension called ``name`` (``KeyError`` if none)."""
        for d in self.dimensions:
            if d.name == name:
                return d
        raise KeyError(name)

    def dimension_call(self, name: str) -> ast.Call:
        """The call that writes dimension ``name`` in the spec (``choice(...)``, ``int_range(...)``, ...)."""
        return self._calls[name]

    # ---- points ---------------------------------------------------------------------------------------------------
    def suggest(self, trial) -> dict:
        """The point ``trial`` chooses, asked define-by-run: for each dimension that exists given the values
        chosen so far, in the space's order (deterministic, so a seeded study repeats itself), Optuna's
        ``suggest_categorical(name, options)`` (a choice; an optional: ``[true, false]``), ``suggest_int(name,
        low, high, step=, log=)`` or ``suggest_float(name, low, high, step=, log=)``."""
        point: dict = {}
        existing: set[str] = set()
        for d in self.dimensions:
            if not holds(d.conditions, point, existing):
                continue
            if d.kind in ("choice", "optional"):
                point[d.name] = trial.suggest_categorical(d.name, list(d.options))
            elif d.kind == "int":
                point[d.name] = trial.suggest_int(d.name, d.low, d.high, step=d.step, log=d.log)
            else:
                point[d.name] = trial.suggest_float(d.name, d.low, d.high, step=d.step, log=d.log)
            existing.add(d.name)
        return point

    def active(self, point: Mapping[str, object]) -> list[Dimension]:
        """The dimensions that exist at ``point``: the unconditional ones, and each conditional one whose
        parent exists and has the value it depends on."""
        return active(self.dimensions, point)

    def validate(self, point: Mapping[str, object]) -> None:
        """``ParamsError`` (naming the dimension) unless ``point`` gives each active dimension one of its values
        and nothing else."""
        validate(self.dimensions, point)

    def concrete_module(self, point: Mapping[str, object], *, written_to: Path | str | None = None) -> ast.Module:
        """The spec at ``point`` as an AST: no dimension left; every node not replaced keeps its original span;
        a replaced range has a number with the range call's span; comments as in the source. ``written_to``:
        the file the concrete spec will be written to; a relative data file path is rewritten to name the
        same file from that file's folder (``compiler.space.data_paths``)."""
        module = concrete_module(self.module, self.dimensions, self._constant_conditions, point)
        if written_to is None:
            return module
        return relocate_data(module, self.folder, Path(written_to).parent)

    def concrete_text(self, point: Mapping[str, object], comment: str | None = None, *,
                      written_to: Path | str | None = None) -> str:
        """The concrete spec at ``point``, formatted as ``nnspec fmt`` writes it; ``comment``'s lines (each made a
        ``#`` comment) go at the top; a train section without ``seed`` gets the seed training uses.
        ``written_to``: the file it will be written to (standard output: a file name in the current folder,
        e.g. ``"-"``): a relative data file path is rewritten to name the same file from there; None keeps
        the paths as the search spec writes them (right only in the search spec's folder)."""
        text = format_module(self.concrete_module(point, written_to=written_to))
        if not comment:
            return text
        lines = [line if line.startswith("#") else f"# {line}".rstrip() for line in comment.splitlines()]
        return "\n".join(lines) + "\n\n" + text

    # ---- the space as a whole ----------------------------------------------------------------------------------
    def size(self) -> int | None:
        """How many distinct points there are (conditional dimensions counted where they exist); None when a
        float dimension is continuous."""
        return _sample.size(self.dimensions)

    def grid(self) -> dict[str, list]:
        """Every dimension's values, for Optuna's ``GridSampler``; ``ParamsError`` if one is continuous."""
        return _sample.grid(self.dimensions)

    def extremes(self) -> list[dict]:
        """The base point (every dimension at its low or first option), then for each dimension the points
        with it at each extreme (low, high; each option; present and absent), others at base; no repeats."""
        return _sample.extremes(self.dimensions)

    def sample(self, n: int, seed: int) -> list[dict]:
        """``n`` random points from ``seed`` (uniform; log-uniform on a log scale; on the step)."""
        return _sample.sample(self.dimensions, n, seed)

    def fingerprint(self) -> dict:
        """What identifies the space: every dimension and a hash of the spec's text outside them (JSON-able)."""
        return _fingerprint.fingerprint(self)

    @staticmethod
    def differences(old: dict, new: dict) -> list[str]:
        """What changed from fingerprint ``old`` to ``new``, one line each (empty when nothing did)."""
        return _fingerprint.differences(old, new)


def _folder_of(path: str) -> Path:
    """The folder of a spec named ``path``; the current one for ``<stdin>``, ``<string>`` and ``-``."""
    if path == "-" or (path.startswith("<") and path.endswith(">")):
        return Path(".")
    return Path(path).parent


def space_of(text: str, path: str = "<string>") -> SearchSpace:
    """The search space of spec ``text``; ``SpecError`` (diagnostics with carets) if it does not parse or a
    dimension is misplaced or malformed."""
    source = Source(path, text)
    return SearchSpace(parse(source), source)


def load_space(path) -> SearchSpace:
    """The search space of the spec file ``path`` (read as every command reads a spec)."""
    source = read_source(path)
    return SearchSpace(parse(source), source, _folder_of(str(path)) if str(path) == "-" else Path(path).parent)
