"""A search space as ``nnspec check`` prints it: its size and one row per dimension (name, kind, its values
as ``Dimension.describe`` says them, the condition under which it exists). Plain text, deterministic;
``space_document`` is the same as JSON-able data (``nnspec check --json``)."""

from __future__ import annotations

import math

from compiler.space import SearchSpace
from compiler.space.dimensions import show_label


def describe_condition(dim) -> str:
    """``train.optimizer = sgd``; alternatives (the dimension exists when any holds) joined by "or", the
    values of one parent together (``block = a or b``); '' for a dimension that always exists."""
    values: dict[str, list[str]] = {}
    for parent, value in dim.conditions:
        values.setdefault(parent, []).append(show_label(value))
    return "; or ".join(f"{parent} = {' or '.join(labels)}" for parent, labels in values.items())


def describe_size(space: SearchSpace) -> str:
    """``2,880 points``, ``1 point`` or ``continuous``."""
    size = space.size()
    return "continuous" if size is None else describe_count(size)


def describe_count(count: int, noun: str = "point") -> str:
    """``2,880 points``, ``1 point``; beyond ``EXACT_SIZE``, ``about 10^N points`` (a number of thousands of
    digits is no use to a reader, nor printable by default: Python refuses int → str past 4,300 digits)."""
    if count > EXACT_SIZE:
        return f"about 10^{int(math.log10(count))} {noun}s"
    return f"{count:,} {noun}{'s' if count != 1 else ''}"


EXACT_SIZE = 10**18  # a larger size is described by its power of ten


HEADERS = ("Dimension", "Kind", "Values", "Only when")


def render_space(space: SearchSpace) -> str:
    """The space: a head line (dimensions, size) and the table of its dimensions, in source order."""
    n = len(space.dimensions)
    rows = [(dim.name, dim.kind, dim.describe(), describe_condition(dim)) for dim in space.dimensions]
    widths = [max(len(row[i]) for row in [HEADERS, *rows]) for i in range(len(HEADERS))]
    lines = [f"search space: {n} dimension{'s' if n != 1 else ''}, {describe_size(space)}"]
    for row in [HEADERS, *rows]:
        lines.append("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return "\n".join(lines)


def space_document(space: SearchSpace) -> dict:
    """The space as JSON-able data: its size (None: continuous, or beyond 10**18), its size in words and every
    dimension's description."""
    size = space.size()
    return {
        "size": size if size is None or size <= EXACT_SIZE else None,  # None: continuous, or too large
        "size_text": describe_size(space),
        "dimensions": [{"name": dim.name, "kind": dim.kind, "values": dim.describe(),
                        **({"options": list(dim.options)} if dim.kind == "choice" else {}),
                        **({"low": dim.low, "high": dim.high, "step": dim.step, "log": dim.log}
                           if dim.kind in ("int", "float") else {}),
                        "only_when": describe_condition(dim) or None}
                       for dim in space.dimensions],
    }


__all__ = ["describe_condition", "describe_size", "render_space", "space_document"]
