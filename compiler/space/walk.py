"""One walk over a spec's AST that names every place a dimension can stand: the single home of the path rules.

The same walk serves two purposes, so the paths of extraction and of substitution can never disagree:

* extraction (``point is None``): every dimension met is reported to ``on_dimension`` with its path, the
  condition it sits under and the reason it is refused (if it stands in a fixed place); every option of
  every choice is walked;
* substitution (``point`` given): each dimension is replaced by its value's AST node (the chosen option,
  a number literal with the dimension's span, the optional's layer or nothing) and only the chosen options
  are walked; the result is a concrete module.

Paths: ``model`` / ``train.<setting>`` / a constant's name at the top. In a body a layer is its ``name=``
or its kind in snake_case, numbered within the body (``dense``, ``dense_1``); a block call is the block's
name, numbered likewise, and the path continues into the block's body; ``repeat[i]`` / ``choice[i]`` /
``optional[i]`` count the repeats / layer choices / optionals of the body. An argument is its keyword or its
parameter's name (``arg[i]`` if unknown); a list item appends ``[i]``; inside a choice option the option's
label is a segment.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from compiler.ir.layers import LAYER_CLASSES
from compiler.ir.training import Training
from compiler.passes.training import LOSS_ARGS, OPTIMIZER_ARGS, SYNTHETIC_ARGS
from compiler.passes.value_kinds import (ACTIVATION_ARGS, INITIALIZER_ARGS, REGULARIZER_ARGS, SCHEDULE_ARGS)
from compiler.space.arguments import option_labels
from compiler.space.dimensions import (DIMENSION_FUNCTIONS, VALUE_FUNCTIONS, Condition, Label, same_label, show_label,
                                       snake_case)
from spec_lang import ast
from spec_lang.span import Span

# The parameter names of positional arguments of value calls, for paths (``l2(choice(...))`` → ``...l2``).
VALUE_POSITIONAL: dict[str, tuple[str, ...]] = {
    "monitor": ("monitor", "patience", "min_delta"), "file": ("path", "label"),
    **SYNTHETIC_ARGS, **LOSS_ARGS, **SCHEDULE_ARGS, **REGULARIZER_ARGS, **INITIALIZER_ARGS, **ACTIVATION_ARGS,
    **OPTIMIZER_ARGS,
}

# Train settings that no dimension may vary, and why.
FIXED_SETTINGS = {
    "data": "the training data is the same for every point",
    "seed": "the seed is the same for every point (trials differ only in their dimensions)",
    "validation_split": "every point is judged on the same validation data",
    "metrics": "every point records the same metrics",
}
FIXED_INPUT = "Input's arguments are fixed: every point reads the same data"
FIXED_NAME = "a layer's name is fixed"
FIXED_MONITOR = "the monitored metric is fixed: every point is judged by the same one"
DEFAULT_SEED = Training.model_fields["seed"].default


@dataclass(frozen=True)
class Place:
    """Where the walk stands: the path, the condition of the innermost choice option / optional around it, the
    block parameters in scope (they shadow constants), and why a dimension may not stand here (None: it may)."""

    path: str
    condition: Condition | None = None
    scope: frozenset[str] = frozenset()
    fixed: str | None = None

    def at(self, segment: str) -> "Place":
        joiner = "" if segment.startswith("[") else "."
        return replace(self, path=f"{self.path}{joiner}{segment}" if self.path else segment)

    def under(self, dimension: str, value: Label) -> "Place":
        return replace(self, condition=(dimension, value))


def mentions(expr: ast.Expr | ast.LayerStmt | ast.Body | None) -> tuple[bool, set[str]]:
    """Whether ``expr`` contains a dimension call, and the names it refers to (without recursion)."""
    has_dimension, names = False, set()
    stack = [expr] if expr is not None else []
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call):
            has_dimension = has_dimension or node.func in DIMENSION_FUNCTIONS
            names.add(node.func)  # a block call in a body refers to the block by name
        elif isinstance(node, ast.Name):
            names.add(node.id)
        stack.extend(ast.children(node))
    return has_dimension, names


def dimension_calls(roots: list) -> list[ast.Call]:
    """The dimension calls in ``roots`` (AST nodes) that are not inside another dimension call, in source order."""
    out, stack = [], list(reversed(roots))
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Call) and node.func in DIMENSION_FUNCTIONS:
            out.append(node)
        else:
            stack.extend(reversed(ast.children(node)))
    return out


def holding_dimensions(module: ast.Module) -> tuple[set[str], set[str]]:
    """The constants and the blocks whose text holds a dimension, directly or through another one."""
    direct: dict[str, tuple[bool, set[str]]] = {}
    for stmt in module.statements:
        if isinstance(stmt, ast.ConstDef):
            direct.setdefault(stmt.name, mentions(stmt.value))
        elif isinstance(stmt, ast.BlockDef):
            found, names = mentions(stmt.body)
            for p in stmt.params:
                f, n = mentions(p.default)
                found, names = found or f, names | n
            direct.setdefault(stmt.name, (found, names))
    holding = {name for name, (found, _) in direct.items() if found}
    changed = True
    while changed:
        changed = False
        for name, (_, names) in direct.items():
            if name not in holding and names & holding:
                holding.add(name)
                changed = True
    constants = {s.name for s in module.statements if isinstance(s, ast.ConstDef)}
    return holding & constants, holding - constants


def number_node(value: int | float, span: Span) -> ast.Expr:
    """The literal that reads back as ``value`` exactly (``repr`` of a float round-trips), with ``span``."""
    text = str(abs(value)) if isinstance(value, int) else repr(abs(float(value)))
    node = ast.Number(text, abs(value), span)
    return ast.Unary("-", node, span) if value < 0 else node


class Walker:
    """The walk described in the module docstring. Extracting, ``on_dimension(call, place, named)`` is called
    for every dimension met (it answers whether the dimension is new and valid, so that its options are walked
    once), ``on_constant(name, place, span)`` for every use of a constant holding a dimension, and
    ``on_error(message, span, hint)`` for a dimension where none may stand."""

    def __init__(self, module: ast.Module, point: dict | None = None,
                 on_dimension: Callable | None = None, on_constant: Callable | None = None,
                 on_error: Callable | None = None):
        self.module, self.point = module, point
        self.on_dimension = on_dimension or (lambda call, place, named: None)
        self.on_constant = on_constant or (lambda name, place, span: None)
        self.on_error = on_error or (lambda message, span, hint=None: None)
        self.constants = {}
        self.blocks = {}
        for stmt in module.statements:
            if isinstance(stmt, ast.ConstDef):
                self.constants.setdefault(stmt.name, stmt)
            elif isinstance(stmt, ast.BlockDef):
                self.blocks.setdefault(stmt.name, stmt)
        self.holding_constants, self.holding_blocks = holding_dimensions(module)
        self._walking_blocks: list[str] = []
        self.reached: set[int] = set()  # ids of the dimension calls the walk met (used or refused)
        self.refused_constants: set[str] = set()  # constants holding a dimension, used where none may stand
        # substitution: each block's specialisations (its definition with its dimensions replaced) by name
        self.specialised: dict[str, dict[tuple, str]] = {}
        self.definitions: dict[str, list[ast.BlockDef]] = {}

    @property
    def extracting(self) -> bool:
        return self.point is None

    # ---- top level --------------------------------------------------------------------------------------------
    def walk_model(self, model: ast.ModelDef) -> ast.ModelDef:
        return replace(model, body=self.body(model.body, Place("model")))

    def walk_train(self, train: ast.TrainDef) -> ast.TrainDef:
        settings = []
        for setting in train.settings:
            place = Place(f"train.{setting.name}", fixed=FIXED_SETTINGS.get(setting.name))
            settings.append(replace(setting, value=self.value(setting.value, place)))
        if not self.extracting and not any(s.name == "seed" for s in train.settings):
            end = Span(train.span.path, train.span.end_line, max(1, train.span.end_column - 1),
                       train.span.end_line, max(1, train.span.end_column - 1))
            settings.append(ast.Setting("seed", number_node(DEFAULT_SEED, end), end, end))
        return replace(train, settings=tuple(settings))

    def walk_constant(self, const: ast.ConstDef, place: Place) -> ast.ConstDef:
        """A constant's value from one of its uses (``place``: that use's condition; path = its name)."""
        place = replace(place, path=const.name, scope=frozenset())
        value = const.value
        if isinstance(value, ast.Call) and value.func in VALUE_FUNCTIONS:
            return replace(const, value=self.dimension(value, place, named=const.name))
        return replace(const, value=self.value(value, place))

    # ---- bodies -------------------------------------------------------------------------------------------------
    def body(self, body: ast.Body, place: Place) -> ast.Body:
        counts: dict[str, int] = {}

        def numbered(stem: str) -> str:
            n = counts.get(stem, 0)
            counts[stem] = n + 1
            return stem if n == 0 else f"{stem}_{n}"

        items: list[ast.LayerStmt] = []
        for item in body.items:
            if isinstance(item, ast.Repeat):
                items.extend(self.repeat(item, place.at(numbered_kind(counts, "repeat"))))
            elif isinstance(item, ast.Named):  # x = ...: the path segment is its name (numbered if a kind took it)
                items.append(replace(item, stmt=self.unit(item.stmt, place.at(numbered(item.name)), fixed_place=True)))
            elif isinstance(item, (ast.Wired, ast.Residual, ast.Parallel)):
                items.append(self.unit(item, self.unit_place(item, place, counts, numbered)))
            else:
                items.extend(self.line(item, place, counts, numbered))
        return replace(body, items=tuple(items))

    def line(self, item: ast.Call, place: Place, counts: dict[str, int], numbered: Callable | None) -> list:
        """A layer line of a body: a layer, a block use, a layer choice or an optional. ``numbered`` None: ``place``
        is the line's own already (a named line)."""
        if item.func == "choice":
            at = place if numbered is None else place.at(numbered_kind(counts, "choice"))
            return self.layer_choice(item, at)
        if item.func == "optional":
            at = place if numbered is None else place.at(numbered_kind(counts, "optional"))
            return self.optional(item, at)
        if item.func in VALUE_FUNCTIONS:
            self.reached.add(id(item))
            self.on_error(f"{item.func}(...) is a value, not a layer", item.func_span,
                          "in a body, write choice(Layer(...), ...) or optional(Layer(...))")
            return [item]
        return self.layer(item, place if numbered is None else place.at(numbered(self.segment(item))))

    def unit_place(self, item, place: Place, counts: dict[str, int], numbered: Callable) -> Place:
        """The path of an unnamed graph construct: ``residual[i]``, ``parallel[i]``, or a line with inputs as the
        line alone would be (``conv2d_1``, ``choice[0]``)."""
        if isinstance(item, ast.Residual):
            return place.at(numbered_kind(counts, "residual"))
        if isinstance(item, ast.Parallel):
            return place.at(numbered_kind(counts, "parallel"))
        call = item.call
        if call.func in ("choice", "optional"):
            return place.at(numbered_kind(counts, call.func))
        return place.at(numbered(self.segment(call)))

    def unit(self, unit, place: Place, fixed_place: bool = False):
        """A line with inputs, a residual, a parallel or (named) a layer line, at ``place`` (its own path)."""
        if isinstance(unit, ast.Residual):  # body at residual[i], shortcut at residual[i].shortcut
            shortcut = None if unit.shortcut is None else self.body(unit.shortcut, place.at("shortcut"))
            return replace(unit, body=self.body(unit.body, place), shortcut=shortcut)
        if isinstance(unit, ast.Parallel):  # the merge's arguments at parallel[i].<merge>, branches at branch[j]
            if unit.merge.func == "choice":  # parallel choice(Add(), Concatenate()) { ... }: at parallel[i].merge
                chosen = self.layer_choice(unit.merge, place.at("merge"))
                merge = chosen[0] if len(chosen) == 1 else unit.merge
            else:
                positional = LAYER_CLASSES[unit.merge.func].positional if unit.merge.func in LAYER_CLASSES else ()
                merge = self.call_args(unit.merge, place.at(self.segment(unit.merge)), positional, None)
            branches = tuple(replace(b, body=self.body(b.body, place.at(f"branch[{j}]")))
                             for j, b in enumerate(unit.branches))
            return replace(unit, merge=merge, branches=branches)
        call = unit.call if isinstance(unit, ast.Wired) else unit
        if call.func == "optional":
            self.reached.add(id(call))
            self.on_error("optional(...) cannot be named or take inputs: the layer it holds may be left out",
                          call.span, "write choice(Layer(...), Activation(linear)) for a layer that may do nothing")
            return unit
        items = self.line(call, place, {}, None)
        new = items[0] if len(items) == 1 else call
        return replace(unit, call=new) if isinstance(unit, ast.Wired) else new

    def segment(self, call: ast.Call) -> str:
        """A layer's or block call's own path segment, before numbering: its ``name=`` or its kind in
        snake_case (a block: its name)."""
        if call.func in self.blocks:
            return call.func
        for arg in call.keywords:
            if arg.name == "name" and isinstance(arg.value, ast.String):
                return arg.value.value
        cls = LAYER_CLASSES.get(call.func)
        return cls.snake_name if cls is not None else snake_case(call.func)

    def repeat(self, item: ast.Repeat, place: Place) -> list[ast.LayerStmt]:
        """``repeat N { ... }``: its count at ``<place>.count`` (a dimension there is a variable depth; only
        the chosen depth is built, since the count becomes a number), its body at ``place``."""
        count = item.count
        dimension = isinstance(count, ast.Call) and count.func in VALUE_FUNCTIONS
        if dimension:
            count = self.dimension(count, place.at("count"), named=None)
        else:
            count = self.value(count, place.at("count"))
        body = self.body(item.body, place)
        if not self.extracting and self.depth(count if dimension else None, item.count) == 0:
            return []  # a variable depth of 0 (int_range(0, 3)): no iteration, the repeat is left out
        return [replace(item, count=count, body=body)]

    def depth(self, substituted: ast.Expr | None, written: ast.Expr) -> object:
        """A repeat count's value at the point when a dimension gives it (``substituted``: the number that
        replaced the dimension written there; or ``written`` names a named dimension), else None: a plain
        ``repeat 0`` is the compiler's to refuse."""
        if isinstance(substituted, ast.Number):
            return substituted.value
        if isinstance(written, ast.Name) and written.id in self.holding_constants and written.id in self.point:
            return self.point[written.id]
        return None

    def layer_choice(self, call: ast.Call, place: Place) -> list[ast.LayerStmt]:
        """``choice(Layer(...), block(...))`` as a body item: one of the layers."""
        self.reached.add(id(call))
        ok = True
        for arg in call.args:
            option = arg.value
            if arg.name is not None or not isinstance(option, ast.Call) or option.func in DIMENSION_FUNCTIONS \
                    or not (option.func in LAYER_CLASSES or option.func in self.blocks):
                self.on_error("a choice in a body chooses among layers: this option is not a layer or a block call",
                              option.span, "write choice(Dense(64), Dense(128)) or choice(Conv2D(32, 3), my_block(32))")
                ok = False
        if ok and any(a.value.func == "Input" for a in call.args):
            self.on_error(f"a search dimension cannot go here: {FIXED_INPUT}", call.span)
            ok = False
        name = place.path
        if self.extracting:
            if ok and self.on_dimension(call, place, None):
                for arg, label in zip(call.args, option_labels(tuple(a.value for a in call.args))):
                    self.layer(arg.value, place.under(name, label).at(show_label(label)))
            return [call]
        options = tuple(a.value for a in call.args)
        index = self.chosen(name, option_labels(options))
        label = option_labels(options)[index]
        return self.layer(options[index], place.under(name, label).at(show_label(label)))

    def optional(self, call: ast.Call, place: Place) -> list[ast.LayerStmt]:
        """``optional(Layer(...))``: the layer, or nothing."""
        self.reached.add(id(call))
        inner = call.args[0].value if len(call.args) == 1 and call.args[0].name is None else None
        if not isinstance(inner, ast.Call) or not (inner.func in LAYER_CLASSES or inner.func in self.blocks):
            self.on_error("optional takes one layer or block call: optional(Dropout(0.5))", call.span)
            return [call]
        if inner.func == "Input":
            self.on_error(f"a search dimension cannot go here: {FIXED_INPUT}", call.span)
            return [call]
        name = place.path
        inside = place.under(name, True).at(self.segment(inner))
        if self.extracting:
            if self.on_dimension(call, place, None):
                self.layer(inner, inside)
            return [call]
        return self.layer(inner, inside) if self.point[name] is True else []

    def layer(self, call: ast.Call, place: Place) -> list[ast.LayerStmt]:
        """A layer or block call at ``place`` (its own segment already in the path)."""
        if call.func in self.blocks:
            return [self.block_call(call, self.blocks[call.func], place)]
        positional = LAYER_CLASSES[call.func].positional if call.func in LAYER_CLASSES else ()
        fixed = FIXED_INPUT if call.func == "Input" else None
        return [self.call_args(call, place, positional, fixed)]

    def block_call(self, call: ast.Call, block: ast.BlockDef, place: Place) -> ast.Call:
        """A block use: its arguments, then (into the block's body, with its parameters in scope) its layers.
        Substituting, the block's definition is specialised for this use's values (see ``specialise``)."""
        params = tuple(p.name for p in block.params)
        new_call = self.call_args(call, place, params, None)
        if block.name in self._walking_blocks:  # recursive: the compiler reports it; do not loop here
            return new_call
        given = {p for p, _ in zip(params, call.positional)} | {a.name for a in call.keywords}
        inner = replace(place, scope=frozenset(params))
        self._walking_blocks.append(block.name)
        try:
            new_params = []
            for p in block.params:
                default = p.default
                if default is not None and mentions(default)[0]:  # a default holding a dimension
                    if p.name not in given:  # used here: its dimensions are this use's (walked in no scope)
                        default = self.value(default, replace(place, scope=frozenset()).at(p.name))
                    elif not self.extracting:  # not used here: this use's definition has no default
                        default = None
                new_params.append(replace(p, default=default))
            body = self.body(block.body, inner)
        finally:
            self._walking_blocks.pop()
        if self.extracting or block.name not in self.holding_blocks:
            return new_call
        return replace(new_call, func=self.specialise(block, tuple(new_params), body))

    def specialise(self, block: ast.BlockDef, params: tuple[ast.Param, ...], body: ast.Body) -> str:
        """The name of ``block``'s definition with these parameters and body: the block's own name for the
        first specialisation, ``name_2``, ``name_3``, ... for others (uses with the same values share one)."""
        versions = self.specialised.setdefault(block.name, {})
        key = (params, body)
        if key not in versions:
            name = block.name
            if versions:
                taken = {*self.constants, *self.blocks, *LAYER_CLASSES,
                         *(n for v in self.specialised.values() for n in v.values())}
                k = len(versions) + 1
                while f"{block.name}_{k}" in taken:
                    k += 1
                name = f"{block.name}_{k}"
            versions[key] = name
            self.definitions.setdefault(block.name, []).append(replace(block, name=name, params=params, body=body))
        return versions[key]

    # ---- values -------------------------------------------------------------------------------------------------
    def call_args(self, call: ast.Call, place: Place, positional: tuple[str, ...], fixed: str | None) -> ast.Call:
        """``call`` with each argument walked at ``place.<parameter>``."""
        args = []
        for i, arg in enumerate(call.args):
            if arg.name is not None:
                segment = arg.name
            else:
                segment = positional[i] if i < len(positional) else f"arg[{i}]"
            reason = fixed or (FIXED_NAME if arg.name == "name" else None)
            if call.func == "monitor" and segment == "monitor":
                reason = FIXED_MONITOR
            at = replace(place.at(segment), fixed=reason or place.fixed)
            args.append(replace(arg, value=self.value(arg.value, at)))
        return replace(call, args=tuple(args))

    def value(self, expr: ast.Expr, place: Place) -> ast.Expr:
        """``expr`` in a value position at ``place``."""
        if isinstance(expr, ast.Call):
            if expr.func in VALUE_FUNCTIONS:
                return self.dimension(expr, place, named=None)
            if expr.func == "optional":
                self.reached.add(id(expr))
                self.on_error("optional(...) goes in a body, around a layer: optional(Dropout(0.5))", expr.func_span,
                              "for a value that may be left out, write choice(none, value)")
                return expr
            return self.call_args(expr, place, VALUE_POSITIONAL.get(expr.func, ()), None)
        if isinstance(expr, (ast.ListExpr, ast.TupleExpr)):
            return replace(expr, items=tuple(self.value(item, place.at(f"[{i}]")) for i, item in enumerate(expr.items)))
        if isinstance(expr, ast.DictExpr):
            return replace(expr, items=tuple(replace(item, value=self.value(item.value, place.at(item.key)))
                                             for item in expr.items))
        if isinstance(expr, ast.BinOp):
            return replace(expr, left=self.value(expr.left, place), right=self.value(expr.right, place))
        if isinstance(expr, ast.Unary):
            return replace(expr, operand=self.value(expr.operand, place))
        if isinstance(expr, ast.Name) and expr.id not in place.scope and expr.id in self.holding_constants:
            if place.fixed is not None:
                self.refused_constants.add(expr.id)
                self.on_error(f"a search dimension cannot go here: {place.fixed} ('{expr.id}' holds a search "
                              "dimension)", expr.span)
            else:
                self.on_constant(expr.id, place, expr.span)
        return expr

    def dimension(self, call: ast.Call, place: Place, named: str | None) -> ast.Expr:
        """A value dimension: reported (extraction) or replaced by its value (substitution)."""
        name = named if named is not None else place.path  # a named dimension is its constant's name
        self.reached.add(id(call))
        if place.fixed is not None:
            self.on_error(f"a search dimension cannot go here: {place.fixed}", call.span)
            return call
        if self.extracting:
            if self.on_dimension(call, place, named):  # True: first time met, walk its options
                if call.func == "choice":
                    labels = option_labels(tuple(a.value for a in call.args))
                    for arg, label in zip(call.args, labels):
                        self.value(arg.value, place.under(name, label).at(show_label(label)))
            return call
        value = self.point[name]
        if call.func != "choice":  # an int range's value given as 64.0 (JSON) is written 64
            return number_node(int(value) if call.func == "int_range" else float(value), call.span)
        options = tuple(a.value for a in call.args)
        labels = option_labels(options)
        index = self.chosen(name, labels)
        return self.value(options[index], place.under(name, labels[index]).at(show_label(labels[index])))

    def chosen(self, name: str, labels: list[Label]) -> int:
        value = self.point[name]
        return next(i for i, label in enumerate(labels) if same_label(label, value))


def numbered_kind(counts: dict[str, int], kind: str) -> str:
    """``repeat[0]``, ``repeat[1]``, ...: the i-th statement of ``kind`` in a body."""
    n = counts.get(f"[{kind}]", 0)
    counts[f"[{kind}]"] = n + 1
    return f"{kind}[{n}]"


__all__ = ["DEFAULT_SEED", "FIXED_SETTINGS", "Place", "dimension_calls", "Walker", "holding_dimensions",
           "mentions", "number_node"]
