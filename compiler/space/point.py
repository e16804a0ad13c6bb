"""A point of a space — ``{dimension name: value}`` — checked, and applied to the spec's AST.

``active`` says which dimensions exist at a point: one without conditions always does; a conditional one
when one of its conditions holds (its parent exists at the point and has that value). ``validate`` refuses
an unknown, missing, out-of-range or inactive parameter with ``ParamsError``, whose message names the
dimension. ``concrete_module`` replaces every dimension by its value (through the same walk that named
them, ``compiler.space.walk``): the result has no dimension left and keeps the original spans of every node
it did not replace, so the compiler's errors at a point point into the user's file.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from compiler.space.dimensions import Condition, Dimension, same_label, show_label
from compiler.space.walk import Place, Walker
from spec_lang import ast
from spec_lang.diagnostics import did_you_mean


class ParamsError(ValueError):
    """A point that is not a point of the space; ``problems`` lists every problem, the message the first."""

    def __init__(self, problems: list[str]):
        super().__init__(problems[0] + (f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""))
        self.problems = problems


def holds(conditions: tuple[Condition, ...], values: Mapping[str, object], existing: set[str]) -> bool:
    """Whether something under ``conditions`` exists, given the dimensions that exist and their values."""
    return not conditions or any(parent in existing and parent in values and same_label(values[parent], value)
                                 for parent, value in conditions)


def active(dimensions: Iterable[Dimension], point: Mapping[str, object]) -> list[Dimension]:
    """The dimensions that exist at ``point`` (in the space's order: parents first)."""
    out, existing = [], set()
    for d in dimensions:
        if holds(d.conditions, point, existing):
            out.append(d)
            existing.add(d.name)
    return out


def _condition_words(d: Dimension) -> str:
    return " or ".join(f"{parent} is {show_label(value)}" for parent, value in d.conditions)


def validate(dimensions: tuple[Dimension, ...], point: object) -> None:
    """``ParamsError`` unless ``point`` gives exactly the active dimensions, each one of its values."""
    if not isinstance(point, Mapping):
        raise ParamsError([f"a point is a mapping of dimension names to values, received {type(point).__name__}"])
    names = {d.name for d in dimensions}
    problems = []
    for key in point:
        if key not in names:
            hint = did_you_mean(str(key), names)
            problems.append(f"unknown dimension '{key}'" + (f"; {hint}" if hint else ""))
    existing = {d.name for d in active(dimensions, point)}
    for d in dimensions:
        if d.name not in existing:
            if d.name in point:
                problems.append(f"dimension '{d.name}' does not exist at this point: it exists only when "
                                f"{_condition_words(d)}")
        elif d.name not in point:
            problems.append(f"missing dimension '{d.name}' ({d.describe()})")
        elif not d.holds(point[d.name]):
            problems.append(f"dimension '{d.name}': expected {d.describe()}, received {point[d.name]!r}")
    if problems:
        raise ParamsError(problems)


def concrete_module(module: ast.Module, dimensions: tuple[Dimension, ...],
                    constant_conditions: Mapping[str, tuple[Condition, ...]], point: Mapping[str, object]) -> ast.Module:
    """``module`` at ``point`` (validated first): each dimension replaced by its value; a constant that holds a
    dimension kept (with its value substituted) only if the point uses it; each block holding a dimension
    replaced by its specialisations for the point (``Walker.specialise``); a train section without ``seed``
    gets the seed training uses. Comments are kept as in the source."""
    validate(dimensions, point)
    existing = {d.name for d in active(dimensions, point)}
    values = {name: point[name] for name in existing}
    walker = Walker(module, point=values)
    walked: dict[int, ast.Statement] = {}
    for stmt in module.statements:
        if isinstance(stmt, ast.ModelDef) and not any(isinstance(s, ast.ModelDef) for s in walked.values()):
            walked[id(stmt)] = walker.walk_model(stmt)
        elif isinstance(stmt, ast.TrainDef) and not any(isinstance(s, ast.TrainDef) for s in walked.values()):
            walked[id(stmt)] = walker.walk_train(stmt)
    statements: list[ast.Statement] = []
    for stmt in module.statements:
        if isinstance(stmt, ast.ConstDef) and stmt.name in walker.holding_constants:
            conditions = constant_conditions.get(stmt.name)
            if conditions is not None and holds(conditions, values, existing):
                statements.append(walker.walk_constant(stmt, Place(stmt.name)))
        elif isinstance(stmt, ast.BlockDef) and stmt.name in walker.holding_blocks:
            if walker.blocks.get(stmt.name) is stmt:
                statements.extend(walker.definitions.get(stmt.name, ()))
        else:
            statements.append(walked.get(id(stmt), stmt))
    return ast.Module(tuple(statements), module.comments, module.path)
