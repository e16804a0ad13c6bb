"""Checking a search space: every point that ``nnspec check`` looks at compiles, and each problem is
reported once, in the original spec, at the dimension that causes it.

The points checked are the base point (each dimension at its low end or first option), every point
of ``SearchSpace.extremes()`` and ``samples`` seeded points of ``SearchSpace.sample``, without
duplicates, as many as ``CHECK_BUDGET`` allows. Each is compiled by the normal pipeline (``compiler.pipeline.compile_parsed``) on
``SearchSpace.concrete_module(point)``: the spec with every dimension replaced by its value, whose other
nodes keep their spans, so every diagnostic already points into the user's file.

Attribution of a diagnostic found at a point P (the same rule for errors and lint warnings):
- found at the base point: reported as the compiler reports it (the spec itself is at fault); a warning
  found elsewhere when the base point does not compile (its errors hide its warnings) likewise;
- otherwise it is blamed on the dimensions whose value at P differs from the base point's: when one
  differs, that one; when several differ, the one that alone (the base point with that dimension set as
  at P) gives the same diagnostic; if none does alone, all of them;
- a blamed integer dimension is moved to the first value, going from its base value towards its value
  at P, that still gives the diagnostic (bisection: "the pool shrinks the image below 1 pixel at
  depth 6", not at the depth a sample happened to draw);
- the message becomes ``at NAME = VALUE: <the compiler's message>`` with the caret under the blamed
  dimension; a note points at where the compiler found it, and one names the other values of the point.
  A warning moved there is also silenced by a suppression comment ending the dimension's line.
A diagnostic is "the same" when its severity, lint code and location in the spec are; each is reported
once, at the first point (in the order above) that shows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from compiler.passes.suppressions import read_suppressions
from compiler.pipeline import CompileResult, compile_parsed
from spec_lang.diagnostics import Diagnostic, SpecError
from spec_lang.records import Record, record

if TYPE_CHECKING:  # loaded by whoever made the space: `nnspec check` on a plain spec never loads it
    from compiler.space import SearchSpace

SAMPLES = 20  # seeded random points checked besides the base point and the extremes (nnspec check --samples)
# How much one check compiles at most: points × (the base point's text length + the choices' options), in
# characters (a few seconds: a 2 KB model's space gets 150 points). A space with more points to check
# (hundreds of dimensions in a long spec, a choice of 100,000 options) is checked at its first points (the
# base point, then the extremes in source order) and says how many it left out.
CHECK_BUDGET = 300_000
SAMPLE_SEED = 0

Point = dict  # {dimension name: value}


@record
class SpaceCheck(Record):
    """What checking a space found. ``base`` is the base point's compile result (None when it fails);
    ``errors`` and ``warnings`` are in the original spec, each once; ``points`` counts the distinct points
    compiled (the base point, the extremes and the samples; not those tried to attribute a problem)."""

    space: SearchSpace
    base: CompileResult | None
    points: int
    errors: list[Diagnostic]
    warnings: list[Diagnostic]
    skipped: int = 0  # points to check left out to keep within CHECK_BUDGET (the last extremes, the samples)


def _key(point: Point) -> tuple:
    """A point as a hashable key (the value's type included: ``1``, ``1.0`` and ``true`` differ)."""
    return tuple(sorted((name, type(value).__name__, value) for name, value in point.items()))


def _identity(d: Diagnostic) -> tuple:
    """What makes two diagnostics "the same" across points: severity, lint code, place in the spec."""
    return (d.severity, d.code, d.span, None if d.span else d.message)


class _Compiler:
    """Compiles points of one space, each once; the outcome of a point is its diagnostics."""

    def __init__(self, space: SearchSpace, ignore: Iterable[str]):
        self.space = space
        self.ignore = tuple(ignore)
        self._outcomes: dict[tuple, tuple[CompileResult | None, list[Diagnostic]]] = {}

    def compile(self, point: Point) -> tuple[CompileResult | None, list[Diagnostic]]:
        """The compile result (None on errors) and the diagnostics (errors, or the kept warnings)."""
        key = _key(point)
        if key not in self._outcomes:
            module = self.space.concrete_module(point)
            try:
                result = compile_parsed(module, self.space.source, self.ignore)
                self._outcomes[key] = (result, list(result.warnings))
            except SpecError as err:
                self._outcomes[key] = (None, list(err.diagnostics))
        return self._outcomes[key]

    def shows(self, point: Point, identity: tuple) -> bool:
        """Whether compiling ``point`` gives a diagnostic the same as ``identity`` (False when ``point``, a
        point made to attribute a diagnostic, is not a point of the space)."""
        from compiler.space import ParamsError

        try:
            return any(_identity(d) == identity for d in self.compile(point)[1])
        except ParamsError:
            return False


def points_to_check(space: SearchSpace, samples: int = SAMPLES, seed: int = SAMPLE_SEED) -> list[Point]:
    """The base point, then the extremes, then ``samples`` seeded points, each once, in that order."""
    seen: dict[tuple, Point] = {}
    for point in [*space.extremes(), *space.sample(samples, seed)]:
        seen.setdefault(_key(point), point)
    return list(seen.values())


def check_space(space: SearchSpace, samples: int = SAMPLES, seed: int = SAMPLE_SEED,
                ignore: Iterable[str] = ()) -> SpaceCheck:
    """Compile the points of ``points_to_check`` and attribute every diagnostic (module docstring)."""
    compiler = _Compiler(space, ignore)
    points = points_to_check(space, samples, seed)
    kept = max(1, CHECK_BUDGET // _cost(space, points[0]))
    skipped = max(0, len(points) - kept)
    points = points[:kept]
    base = points[0]
    base_result, base_diagnostics = compiler.compile(base)
    reported: dict[tuple, Diagnostic] = {}
    for d in base_diagnostics:
        reported.setdefault(("base", _identity(d)), d)
    known = {_identity(d) for d in base_diagnostics}
    for point in points[1:]:
        for d in compiler.compile(point)[1]:
            identity = _identity(d)
            if identity in known:
                continue
            known.add(identity)
            # the base point's errors hide its warnings: a warning seen elsewhere may be the base point's
            # own, so it is reported where the compiler found it, blamed on no dimension
            unknown = base_result is None and d.severity != "error"
            reported[("point", identity)] = d if unknown else _attribute(compiler, base, point, d)
    # a warning moved onto a dimension is silenced by a suppression comment there too (`# nnspec: ignore[code]`
    # ending the dimension's line), as it was where the compiler found it
    found = read_suppressions(space.module.comments, space.source.path, ignore).keep(reported.values())
    order = lambda d: (d.span.line, d.span.column) if d.span else (0, 0)  # noqa: E731
    return SpaceCheck(space, base_result, len(points),
                      sorted((d for d in found if d.severity == "error"), key=order),
                      sorted((d for d in found if d.severity != "error"), key=order), skipped)


def _cost(space: SearchSpace, base: Point) -> int:
    """What compiling one point costs, in ``CHECK_BUDGET``'s units: the length of the base point's concrete
    text (what the compiler reads), plus every choice's options (each point's substitution labels them)."""
    from spec_lang.formatter import format_module

    return max(1, len(format_module(space.concrete_module(base)))
               + sum(len(d.options) for d in space.dimensions if d.kind == "choice"))


def _differing(space: SearchSpace, base: Point, point: Point) -> list:
    """The dimensions active at ``point`` whose value there is not the base point's, in source order."""
    return [dim for dim in space.dimensions
            if dim.name in point and (dim.name not in base or base[dim.name] != point[dim.name]
                                      or type(base[dim.name]) is not type(point[dim.name]))]


def _with(space: SearchSpace, base: Point, point: Point, name: str, value) -> Point | None:
    """The base point with dimension ``name`` set to ``value``; the dimensions this activates take their
    values at ``point``, those it deactivates are dropped. None when that is not a valid point."""
    candidate = {**base, name: value}
    for _ in range(len(space.dimensions) + 1):
        active = {dim.name for dim in space.active(candidate)}
        missing = active - candidate.keys()
        if any(n not in point for n in missing):
            return None
        settled = {n: (candidate[n] if n in candidate else point[n]) for n in active}
        if settled == candidate:
            return candidate
        candidate = settled
    return None


def _attribute(compiler: _Compiler, base: Point, point: Point, d: Diagnostic) -> Diagnostic:
    """``d``, found at ``point`` and not at the base point, moved onto the dimension(s) that cause it."""
    from compiler.space.dimensions import show_label

    space = compiler.space
    identity = _identity(d)
    differing = _differing(space, base, point)
    blamed, witness = differing, point
    if len(differing) > 1:
        for dim in differing:
            candidate = _with(space, base, point, dim.name, point[dim.name])
            if candidate is not None and compiler.shows(candidate, identity):
                blamed, witness = [dim], candidate
                break
    if len(blamed) == 1 and blamed[0].kind == "int" and blamed[0].name in base:
        witness = _first_failing(compiler, blamed[0], base, witness, identity)
    if not blamed:  # cannot happen (a point that differs in nothing is the base point): report as found
        return d
    first = blamed[0]
    values = ", ".join(f"{dim.name} = {show_label(witness[dim.name])}" for dim in blamed)
    notes = []
    if d.span is not None and d.span != first.span:
        notes.append(Diagnostic("note", "the compiler found it here", d.span))
    for dim in blamed[1:]:
        notes.append(Diagnostic("note", f"{dim.name} = {show_label(witness[dim.name])} here", dim.span))
    others = [f"{name} = {show_label(value)}" for name, value in witness.items()
              if name not in {dim.name for dim in blamed}]
    if others:
        notes.append(Diagnostic("note", f"the other values of that point: {', '.join(others)}", None))
    return Diagnostic(d.severity, f"at {values}: {d.message}", first.span, d.hint, d.code,
                      (*notes, *d.notes))


def _first_failing(compiler: _Compiler, dim, base: Point, witness: Point, identity: tuple) -> Point:
    """``witness`` with integer dimension ``dim`` moved to the first value from its base value towards its
    value in ``witness`` that still gives the diagnostic (bisection, in steps of the dimension's step)."""
    step = dim.step or 1
    good, bad = base[dim.name], witness[dim.name]
    direction = 1 if bad > good else -1
    lo, hi = 0, abs(bad - good) // step  # step counts from the good value: lo passes, hi fails
    best = witness
    while hi - lo > 1:
        mid = (lo + hi) // 2
        candidate = {**witness, dim.name: good + direction * mid * step}
        if compiler.shows(candidate, identity):
            hi, best = mid, candidate
        else:
            lo = mid
    return best


__all__ = ["CHECK_BUDGET", "SAMPLES", "SpaceCheck", "check_space", "format_value", "points_to_check"]
