"""Spec AST → ``SearchSpace``: every dimension with its name, path, values and conditions; every misplaced or
malformed dimension an error with a caret.

The walk (``compiler.space.walk``) visits the model body, then the train settings; a constant holding a
dimension is walked from each of its uses, so its dimensions take the conditions of the places that use it
(the union: unconditional if any use is). Dimensions are ordered by where they are written, each after the
dimensions its conditions name (a parent before its conditional children).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from compiler.passes.evaluate import Evaluator
from compiler.space.arguments import RangeArgs, check_options, option_labels
from compiler.space.dimensions import DIMENSION_FUNCTIONS, OPTIONAL_VALUES, Condition, Dimension, same_label
from compiler.space.walk import Place, Walker, dimension_calls, mentions
from spec_lang import ast
from spec_lang.diagnostics import DiagnosticSink, SpecError
from spec_lang.span import Source


# More dimensions than a search can learn anything about (TPE models each one) and than `nnspec check` can
# check in seconds; a named dimension used in many places counts once.
MAX_DIMENSIONS = 1000


@dataclass
class _Found:
    """A dimension met by the walk: its record's fields, the call written in the spec, and its uses' conditions."""

    node: ast.Call
    fields: dict
    uses: list[Condition | None] = field(default_factory=list)

    def dimension(self) -> Dimension:
        conditions = () if None in self.uses else tuple(dict.fromkeys(self.uses))
        return Dimension(**self.fields, conditions=conditions)  # type: ignore[arg-type]


class Extraction:
    """The dimensions of one module, and what substitution needs: which constants hold dimensions and under
    which conditions they are used."""

    def __init__(self, module: ast.Module, source: Source):
        self.module, self.source = module, source
        self.sink = DiagnosticSink()
        self.found: dict[str, _Found] = {}
        self.constant_uses: dict[str, list[Condition | None]] = {}
        self._walked: set[tuple[str, Condition | None]] = set()
        self._constant_stack: list[str] = []
        self.too_many = False
        self.walker = Walker(module, on_dimension=self._dimension, on_constant=self._constant,
                             on_error=self.sink.error)
        constants = {s.name: s for s in reversed(module.statements) if isinstance(s, ast.ConstDef)}
        self.evaluator = Evaluator(constants)

    def run(self) -> tuple[tuple[Dimension, ...], dict[str, tuple[Condition, ...]], dict[str, ast.Call]]:
        for stmt in self.module.statements:
            if isinstance(stmt, ast.BlockDef) and stmt.name in DIMENSION_FUNCTIONS:
                self.sink.error(f"a block cannot be named '{stmt.name}': the name writes a search dimension",
                                stmt.name_span, "rename the block")
        models = [s for s in self.module.statements if isinstance(s, ast.ModelDef)]
        trains = [s for s in self.module.statements if isinstance(s, ast.TrainDef)]
        if models:
            self.walker.walk_model(models[0])
        if trains:
            self.walker.walk_train(trains[0])
        self._unused()
        if self.sink.errors:
            errors = sorted(dict.fromkeys(self.sink.errors), key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))
            raise SpecError(errors, self.source)
        dimensions = _simplified(_ordered([f.dimension() for f in self.found.values()]))
        by_name = {d.name: d for d in dimensions}
        constants = {name: (() if None in uses else simplify(tuple(dict.fromkeys(uses)), by_name))
                     for name, uses in self.constant_uses.items()}
        return dimensions, constants, {name: f.node for name, f in self.found.items()}

    # ---- the walk's callbacks -------------------------------------------------------------------------------------
    def _dimension(self, call: ast.Call, place: Place, named: str | None) -> bool:
        """Record the dimension ``call`` met at ``place``; True when it is new and valid (walk its options)."""
        name = named if named is not None else place.path
        known = self.found.get(name)
        if known is not None:
            if known.node is not call:
                self.sink.error(f"two search dimensions here are both named '{name}'", call.span,
                                "name one of them: write it as a constant (units = choice(...)) and use the name")
                return False
            known.uses.append(place.condition)
            return False
        if len(self.found) >= MAX_DIMENSIONS:
            if not self.too_many:
                self.too_many = True
                self.sink.error(f"a search space has at most {MAX_DIMENSIONS:,} dimensions: this one is beyond them",
                                call.span, "name one dimension and use it in many places (units = choice(...))")
            return False
        fields = self._fields(call)
        if fields is None:
            return False
        fields.update(name=name, path=place.path, span=call.span, named=named is not None)
        self.found[name] = _Found(call, fields, [place.condition])
        return True

    def _fields(self, call: ast.Call) -> dict | None:
        """A dimension's values from its call (None, with the errors reported, when they are bad)."""
        if call.func == "optional":
            return {"kind": "optional", "options": OPTIONAL_VALUES}
        if call.func == "choice":
            labels = option_labels(tuple(a.value for a in call.args))
            if not check_options(call, labels, self.sink):
                return None
            return {"kind": "choice", "options": tuple(labels)}
        bounds = RangeArgs(call, self.evaluator, self._fixed_problem, self.sink)
        if not bounds.ok:
            return None
        kind = "int" if call.func == "int_range" else "float"
        low, high, step = bounds.low, bounds.high, bounds.step
        if kind == "float":
            low, high = float(low), float(high)
            step = float(step) if step is not None else None
        return {"kind": kind, "low": low, "high": high, "step": step, "log": bounds.log}

    def _fixed_problem(self, expr: ast.Expr) -> str | None:
        """Why ``expr`` (a bound, step or log) is not a fixed value, or None when it is."""
        has_dimension, names = mentions(expr)
        if has_dimension:
            return "this is a dimension"
        held = sorted(names & self.walker.holding_constants)
        self.walker.refused_constants.update(held)
        return f"'{held[0]}' holds a search dimension" if held else None

    def _constant(self, name: str, place: Place, span) -> None:
        """A use of constant ``name`` (which holds a dimension) at ``place``: walk it under that use's condition."""
        if name in self._constant_stack:
            chain = " → ".join([*self._constant_stack[self._constant_stack.index(name):], name])
            self.sink.error(f"search dimension '{name}' is used inside its own definition ({chain})", span)
            return
        self.constant_uses.setdefault(name, []).append(place.condition)
        key = (name, place.condition)
        if key in self._walked:
            return
        self._walked.add(key)
        self._constant_stack.append(name)
        try:
            self.walker.walk_constant(self.walker.constants[name], place)
        finally:
            self._constant_stack.pop()

    def _unused(self) -> None:
        """A dimension the walk never met is an error: nothing uses the constant or block that holds it."""
        for stmt in self.module.statements:
            if isinstance(stmt, ast.ConstDef):
                if stmt.name in self.walker.refused_constants:
                    continue
                why = f"nothing in the model or the train section uses constant '{stmt.name}'"
                roots = [stmt.value]
            elif isinstance(stmt, ast.BlockDef):
                why = f"block '{stmt.name}' is never used, or every use passes a value for this parameter"
                roots = [*(p.default for p in stmt.params if p.default is not None), stmt.body]
            else:
                why = "nothing uses it"
                roots = [stmt.body] if isinstance(stmt, ast.ModelDef) else [s.value for s in stmt.settings]
            for call in dimension_calls(roots):
                if id(call) not in self.walker.reached:
                    self.sink.error("this search dimension is never used", call.span, why)


def simplify(conditions: tuple[Condition, ...], parents: dict[str, Dimension]) -> tuple[Condition, ...]:
    """``conditions`` (alternatives: any one holding makes the dimension exist) without those that always
    hold together: when they name every option of a parent, "the parent has one of its options" is "the
    parent exists", so they are replaced by the parent's own conditions (``parents`` holds each parent
    already simplified); a parent that always exists makes the dimension exist always (``()``). Repeated
    until nothing changes, so a dimension used under every option of a choice that is itself under every
    option of another is unconditional too."""
    conditions = tuple(dict.fromkeys(conditions))
    changed = True
    while changed and conditions:
        changed = False
        for parent in dict.fromkeys(p for p, _ in conditions):
            d = parents.get(parent)
            values = [v for p, v in conditions if p == parent]
            if d is None or not all(any(same_label(v, o) for v in values) for o in d.options):
                continue
            if not d.conditions:
                return ()
            kept = [c for c in conditions if c[0] != parent]
            conditions = tuple(dict.fromkeys([*kept, *d.conditions]))
            changed = True
            break
    return conditions


def _simplified(dimensions: tuple[Dimension, ...]) -> tuple[Dimension, ...]:
    """Every dimension's conditions simplified (``simplify``; parents first, so each parent is simplified
    before its children), then ordered again: a dimension that became unconditional takes its place in
    source order."""
    done: dict[str, Dimension] = {}
    for d in dimensions:
        conditions = simplify(d.conditions, done) if d.conditions else ()
        done[d.name] = d if conditions == d.conditions else replace(d, conditions=conditions)
    return _ordered(list(done.values()))


def _ordered(dimensions: list[Dimension]) -> tuple[Dimension, ...]:
    """Source order, except that a dimension comes after every dimension its conditions name."""
    by_name = {d.name: d for d in dimensions}
    out: list[Dimension] = []
    placed: set[str] = set()
    visiting: set[str] = set()

    def place(d: Dimension) -> None:
        if d.name in placed or d.name in visiting:
            return
        visiting.add(d.name)
        for parent, _ in d.conditions:
            if parent in by_name:
                place(by_name[parent])
        visiting.discard(d.name)
        placed.add(d.name)
        out.append(d)

    for d in sorted(dimensions, key=lambda d: (d.span.line, d.span.column)):
        place(d)
    return tuple(out)


def extract(module: ast.Module, source: Source
            ) -> tuple[tuple[Dimension, ...], dict[str, tuple[Condition, ...]], dict[str, ast.Call]]:
    """The dimensions of ``module`` (ordered), the conditions of each constant holding one, and the call that
    writes each dimension; ``SpecError`` with every problem found."""
    return Extraction(module, source).run()
