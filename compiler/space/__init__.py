"""Search spaces in the spec: dimensions (``choice``, ``int_range``, ``float_range``, ``log_range``,
``optional``, a variable-depth ``repeat``) found in a parsed spec, named by path, and applied as points.

The public API (the search, check and fix commands code against exactly this):

* ``load_space(path)`` / ``space_of(text, path)`` → ``SearchSpace`` (``SpecError`` with carets on a bad
  dimension); ``bool(space)`` is False for a plain spec;
* ``SearchSpace``: ``dimensions``, ``source``, ``suggest(trial)``, ``active(point)``, ``validate(point)``,
  ``concrete_module(point, written_to=)``, ``concrete_text(point, comment, written_to=)`` (``written_to``:
  the file it goes to, whose folder a relative data path is rewritten for), ``size()``, ``grid()``,
  ``extremes()``, ``sample(n, seed)``, ``fingerprint()``, ``differences(old, new)``;
* ``Dimension`` (one dimension's record), ``ParamsError`` (a point that is not one of the space),
  ``DIMENSION_FUNCTIONS`` (the names that write a dimension), ``first_dimension(module)``.

This package imports nothing above the compiler layer, and no Optuna: a trial is duck-typed.
"""

from compiler.space.dimensions import DIMENSION_FUNCTIONS, Dimension
from compiler.space.point import ParamsError
from compiler.space.search_space import SearchSpace, load_space, space_of

__all__ = ["DIMENSION_FUNCTIONS", "Dimension", "ParamsError", "SearchSpace", "load_space", "space_of"]
