"""The space as a whole: its size, its grid, its extreme points and seeded random points.

A dimension's values: a choice's options; an optional's ``true``, ``false``; an int range's
``low, low + step, ..., high``; a float range with a step likewise (computed decimally: 0.1 + 2 × 0.1 is 0.3);
a float range without a step is continuous. Only choices and optionals have conditional children.
"""

from __future__ import annotations

import math
from decimal import Decimal

from compiler.space.dimensions import OPTIONAL_VALUES, Dimension, same_label
from compiler.space.point import ParamsError, holds


def step_value(low: float, step: float, k: int) -> float:
    """``low + k·step`` computed in decimal (so the values are the ones a person writes: 0.3, not 0.30000000000000004)."""
    return float(Decimal(repr(float(low))) + k * Decimal(repr(float(step))))


def count(d: Dimension) -> int:
    """How many values ``d`` takes (a continuous dimension has no count: ``ParamsError``)."""
    if d.kind in ("choice", "optional"):
        return len(d.options)
    if d.continuous:
        raise ParamsError([f"dimension '{d.name}' is continuous ({d.describe()}): give it a step"])
    if d.kind == "int":
        return (d.high - d.low) // d.step + 1
    return round((d.high - d.low) / d.step) + 1


def values(d: Dimension) -> list:
    """Every value of ``d``, in order (``ParamsError`` for a continuous one)."""
    if d.kind in ("choice", "optional"):
        return list(d.options)
    n = count(d)
    if d.kind == "int":
        return list(range(d.low, d.high + 1, d.step))
    return [step_value(d.low, d.step, k) for k in range(n)]


def _key(parent: str, value: object) -> tuple:
    return (parent, isinstance(value, bool), value)


def size(dimensions: tuple[Dimension, ...]) -> int | None:
    """The number of distinct points: the product over unconditional dimensions of what each contributes,
    a choice contributing the sum over its options of the product of its children under that option. A
    dimension under several conditions (a named one used in several options) is counted by enumerating the
    choices and optionals instead. None when a dimension is continuous."""
    if any(d.continuous for d in dimensions):
        return None
    if all(len(d.conditions) <= 1 for d in dimensions):
        children: dict[tuple, list[Dimension]] = {}
        for d in dimensions:
            for parent, value in d.conditions:
                children.setdefault(_key(parent, value), []).append(d)

        def points(d: Dimension) -> int:
            if d.kind not in ("choice", "optional"):
                return count(d)
            return sum(math.prod(points(c) for c in children.get(_key(d.name, o), ())) for o in d.options)

        return math.prod(points(d) for d in dimensions if not d.conditions)

    def enumerate_from(i: int, chosen: dict, existing: frozenset) -> int:
        if i == len(dimensions):
            return 1
        d = dimensions[i]
        if not holds(d.conditions, chosen, set(existing)):
            return enumerate_from(i + 1, chosen, existing)
        if d.kind not in ("choice", "optional"):
            return count(d) * enumerate_from(i + 1, chosen, existing | {d.name})
        return sum(enumerate_from(i + 1, {**chosen, d.name: o}, existing | {d.name}) for o in d.options)

    return enumerate_from(0, {}, frozenset())


def grid(dimensions: tuple[Dimension, ...]) -> dict[str, list]:
    """Every dimension's values (``ParamsError`` naming a continuous one)."""
    return {d.name: values(d) for d in dimensions}


def base_value(d: Dimension) -> object:
    """A dimension's value at the base point: its low bound, or its first option (an optional: present)."""
    return d.options[0] if d.kind in ("choice", "optional") else d.low


def _complete(dimensions: tuple[Dimension, ...], forced: dict) -> dict:
    """A point: each existing dimension at its ``forced`` value, else at its base value."""
    point: dict = {}
    existing: set[str] = set()
    for d in dimensions:
        if holds(d.conditions, point, existing):
            point[d.name] = forced.get(d.name, base_value(d))
            existing.add(d.name)
    return point


def _forcing(by_name: dict[str, Dimension], d: Dimension, value: object) -> dict:
    """``{d: value}`` and, up its first conditions, the parent values that make ``d`` exist."""
    forced = {d.name: value}
    while d.conditions:
        parent, parent_value = d.conditions[0]
        if parent in forced or parent not in by_name:
            break
        forced[parent] = parent_value
        d = by_name[parent]
    return forced


def _extreme_values(d: Dimension) -> list:
    return list(d.options) if d.kind in ("choice", "optional") else [d.low, d.high]


def extremes(dimensions: tuple[Dimension, ...]) -> list[dict]:
    """The base point, then each dimension at each of its extremes (a conditional one with its parents set
    so that it exists), the others at base; each distinct point once. Linear in the number of points times
    the dimensions that differ from the base point, so a space of thousands of dimensions is no slower to
    list than to compile."""
    by_name = {d.name: d for d in dimensions}
    parents = {parent for d in dimensions for parent, _ in d.conditions}
    base = _complete(dimensions, {})
    unique: dict[frozenset, dict] = {frozenset(): base}
    for d in dimensions:
        for value in _extreme_values(d):
            if d.name in base and d.name not in parents:  # nothing else changes: no need to walk the space again
                change = frozenset() if same_label(base[d.name], value) else frozenset({_item(d.name, value)})
                if change not in unique:
                    unique[change] = {**base, d.name: value}
                continue
            point = _complete(dimensions, _forcing(by_name, d, value))
            change = frozenset(_item(k, v) for k, v in point.items() if k not in base or not same_label(base[k], v))
            change |= {(k, "absent", None) for k in base if k not in point}
            unique.setdefault(change, point)
    return list(unique.values())


def _item(name: str, value: object) -> tuple:
    return (name, isinstance(value, bool), value)


def sample(dimensions: tuple[Dimension, ...], n: int, seed: int) -> list[dict]:
    """``n`` points drawn with NumPy's generator seeded by ``seed``: each existing dimension uniform over its
    options or its range (log-uniform on a log scale, on the step when it has one)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    points = []
    for _ in range(n):
        point: dict = {}
        existing: set[str] = set()
        for d in dimensions:
            if holds(d.conditions, point, existing):
                point[d.name] = _draw(d, rng)
                existing.add(d.name)
        points.append(point)
    return points


def _draw(d: Dimension, rng) -> object:
    if d.kind == "choice":
        return d.options[int(rng.integers(len(d.options)))]
    if d.kind == "optional":
        return OPTIONAL_VALUES[int(rng.integers(2))]
    if d.log:
        value = math.exp(rng.uniform(math.log(d.low), math.log(d.high)))
        value = min(max(value, d.low), d.high)
        return int(min(max(round(value), d.low), d.high)) if d.kind == "int" else float(value)
    if d.step is not None:
        k = int(rng.integers(count(d)))
        return d.low + k * d.step if d.kind == "int" else step_value(d.low, d.step, k)
    return float(rng.uniform(d.low, d.high))
