"""What ZeroPadding2D and Cropping2D share: an amount of rows and columns per side of an image, as Keras takes it.

``1`` → ((1, 1), (1, 1)); ``[h, w]`` → ((h, h), (w, w)); ``[[top, bottom], [left, right]]`` as given (the
two forms may be mixed: ``[1, [0, 2]]``, as Keras' ``standardize_tuple`` allows). Each amount is ≥ 0.
"""

# No `from __future__ import annotations` here: see "Start-up time" in compiler/ir/base.py.

from typing import Annotated

from pydantic import Field

NonNegative = Annotated[int, Field(ge=0)]
Sides = tuple[NonNegative, NonNegative]  # (before, after) along one axis
SideAmounts = tuple[Sides, Sides]  # ((top, bottom), (left, right))


def side_amounts(value):
    """Keras' three forms (an int, a pair, a pair of pairs) as ((top, bottom), (left, right)); other values are
    returned as they are, for the field's own validation to refuse."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value, value), (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return tuple((v, v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value)
    return value
