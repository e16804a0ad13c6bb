"""AST → IR layers: expand blocks and repeats, bind each layer call, name layers as Keras does."""

from __future__ import annotations

from dataclasses import replace

from compiler.ir.layers import LAYER_CLASSES, LayerBase
from compiler.ir.names import name_problem
from compiler.passes.bind import UNEVALUATED, BindError, bind
from compiler.passes.evaluate import EvalError, Evaluator, Val
from compiler.passes.value_kinds import ACTIVATION_KINDS
from compiler.semantics.outputs import key_problem
from spec_lang import ast
from spec_lang.diagnostics import DiagnosticSink, did_you_mean
from spec_lang.records import Record, record
from spec_lang.span import Span

MAX_REPEAT = 10_000
# Layers of a model after expansion: about ten times the deepest published architectures written layer
# by layer (a thousand or so, normalization and activations included), and what `nnspec check` compiles
# in about a second. The count is checked while expanding, before any layer is bound: a bigger model is
# refused at once.
MAX_LAYERS = 10_000
# Statements inside one another once blocks are expanded (a block's body stands where it is used, so a chain
# of blocks, each using the next inside a residual, nests as deep as the chain is long). Checked while
# expanding, so that the depth of a spec never reaches Python's recursion limit (whose depth at the call
# would make the same spec compile in one place and not in another): an error at the statement too deep.
MAX_EXPANSION_DEPTH = 100


class _TooMany(Exception):
    pass


@record
class LayerCall(Record):
    """A layer call after expansion, with the block parameters in force where it stands, the calls whose
    outputs it takes (``sources``: indices into the expansion's list) and, for ``x = Input(...)``, the layer
    name the line gives (``name``)."""

    call: ast.Call
    scope: dict[str, Val]
    via: tuple[str, ...]  # the blocks it came through, outermost first
    sources: tuple[int, ...] = ()
    name: str | None = None
    name_span: Span | None = None  # where ``name`` is written
    residual: bool = False  # the Add of a residual without a shortcut (its shape error suggests one)


@record
class Binding(Record):
    """A name of the spec (``x = ...``) bound to the output of call ``index`` (-1 when that line had an error);
    ``defined`` is where it is written."""

    name: str
    index: int
    defined: Span


@record
class Expansion(Record):
    """The model's body flattened into layer calls in source order (every call after those it takes), its
    outputs (``outputs``: call indices; ``output_keys``: the ``output NAME`` keys, empty when the model marks
    none and its one output is its last line's), and every name bound on the way (for the unused-name errors)."""

    calls: list[LayerCall]
    outputs: tuple[int, ...]
    output_keys: tuple[str, ...]
    bindings: list[Binding]
    referenced: set[int]  # indices into ``bindings`` of the names some line takes


class _Scope:
    """The names visible in a body: its own (``names``: name → index into the bindings), then ``parent``'s
    (None for the model's body and for a block's body, which sees only its own names)."""

    __slots__ = ("names", "parent")

    def __init__(self, parent: "_Scope | None"):
        self.names: dict[str, int] = {}
        self.parent = parent

    def lookup(self, name: str) -> int | None:
        scope: _Scope | None = self
        while scope is not None:
            found = scope.names.get(name)
            if found is not None:
                return found
            scope = scope.parent
        return None

    def visible(self) -> list[str]:
        out: list[str] = []
        scope: _Scope | None = self
        while scope is not None:
            out.extend(scope.names)
            scope = scope.parent
        return out


def expand(model: ast.ModelDef, blocks: dict[str, ast.BlockDef], evaluator: Evaluator,
           sink: DiagnosticSink) -> Expansion:
    """Flatten the model body into a graph of layer calls: ``repeat N {…}`` N times, each block use replaced
    by its body, each residual and parallel by its layers and the merge that joins them; each call takes the
    previous line's output (the *flow*) unless it names its inputs.

    Linear in the number of layers: names are looked up in one dict per enclosing scope. More than
    ``MAX_LAYERS`` layers is an error found while expanding: nothing is returned to bind.
    """
    expander = _Expander(model, blocks, evaluator, sink)
    try:
        last = expander.body(model.body, _Scope(None), None, {}, (), top=True)
    except _TooMany:
        sink.error(f"the model expands to more than {MAX_LAYERS:,} layers (the limit)", model.span,
                   "split the model, or write fewer, wider layers")
        return Expansion([], (), (), [], set())
    outputs = tuple(i for _, i in expander.outputs)
    keys = tuple(k for k, _ in expander.outputs)
    if not outputs and last is not None:
        outputs = (last,)
    return Expansion(expander.out, outputs, keys, expander.bindings, expander.referenced)


_MERGES = "Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate"


class _Expander:
    """The state of one expansion: the calls so far, the names bound, the outputs marked."""

    def __init__(self, model: ast.ModelDef, blocks: dict[str, ast.BlockDef], evaluator: Evaluator,
                 sink: DiagnosticSink):
        self.model, self.blocks, self.evaluator, self.sink = model, blocks, evaluator, sink
        self.out: list[LayerCall] = []
        self.bindings: list[Binding] = []
        self.referenced: set[int] = set()
        self.outputs: list[tuple[str, int]] = []
        self.defining: list[str] = []  # the names whose lines are being expanded (x = Dense(3)(x) is a cycle)
        self._definitions: dict[str, list[Span]] | None = None  # every `name =` of the spec, found on the first error
        self.depth = 0  # statements being expanded inside one another (``MAX_EXPANSION_DEPTH``)
        self.too_deep = False  # reported once

    def add(self, lc: LayerCall) -> int:
        if len(self.out) >= MAX_LAYERS:
            raise _TooMany
        self.out.append(lc)
        return len(self.out) - 1

    # ---- bodies ----------------------------------------------------------------------------------------------
    def body(self, body: ast.Body, scope: _Scope, flow: int | None, params: dict[str, Val], via: tuple[str, ...],
             top: bool = False) -> int | None:
        """Expand ``body``'s statements in ``scope`` from the flow ``flow``; the flow after them (the call
        whose output the next line would take; ``flow`` itself for an empty body; None after an error)."""
        for item in body.items:
            flow = self.statement(item, scope, flow, params, via, top)
        return flow

    def statement(self, item: ast.LayerStmt, scope: _Scope, flow: int | None, params: dict[str, Val],
                  via: tuple[str, ...], top: bool) -> int | None:
        if self.depth >= MAX_EXPANSION_DEPTH:
            if not self.too_deep:
                self.too_deep = True
                shown = via if len(via) <= 5 else (*via[:2], "…", *via[-2:])
                chain = f" (through {len(via)} blocks: {' → '.join(shown)})" if via else ""
                self.sink.error(f"nested too deeply: more than {MAX_EXPANSION_DEPTH} levels of blocks, repeats, "
                                f"residuals and branches inside one another{chain}", item.span,
                                "flatten the model: use a block in sequence (repeat N { blk() }) rather than "
                                "inside the one before")
            return None
        self.depth += 1
        try:
            return self._statement(item, scope, flow, params, via, top)
        finally:
            self.depth -= 1

    def _statement(self, item: ast.LayerStmt, scope: _Scope, flow: int | None, params: dict[str, Val],
                   via: tuple[str, ...], top: bool) -> int | None:
        kind = item.__class__
        if kind is ast.Repeat:
            try:
                count = self.evaluator.evaluate(item.count, params)
            except EvalError as exc:
                self.sink.error(exc.message, exc.span, exc.hint)
                return None
            n = count.value
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_REPEAT:
                self.sink.error(f"repeat: expected a whole number from 1 to {MAX_REPEAT}, received {count.describe()}",
                                count.span)
                return None
            for _ in range(n):  # each iteration a scope of its own: its names are its own
                flow = self.body(item.body, _Scope(scope), flow, params, via)
            return flow
        if kind is ast.Named:
            if item.output and not top:
                self.sink.error("`output` marks a model output: it goes only at the top level of the model's body",
                                item.span, f"write `{item.name} = ...` here, and `output NAME = ...` in the model's body")
            self.defining.append(item.name)
            try:
                result = self._statement(item.stmt, scope, flow, params, via, top)
            finally:
                self.defining.pop()
            self.bind_name(item.name, item.name_span, result, scope)
            if item.output and top and result is not None:
                problem = key_problem(item.name)
                if problem is not None:
                    self.sink.error(problem, item.name_span, "choose another name for this output")
                self.outputs.append((item.name, result))
            if result is not None and item.stmt.__class__ is ast.Call:
                cls = LAYER_CLASSES.get(item.stmt.func)
                if cls is not None and cls.is_input:  # x = Input(...): the layer is named x (its data key)
                    self.out[result] = replace(self.out[result], name=item.name, name_span=item.name_span)
            return result
        if kind is ast.Residual:
            return self.residual(item, scope, flow, params, via)
        if kind is ast.Parallel:
            return self.parallel(item, scope, flow, params, via)
        if kind is ast.Wired:
            inputs = [self.reference(name, scope) for name in item.inputs]
            if None in inputs:
                return None
            return self.line(item.call, tuple(inputs), flow, params, via, item)  # type: ignore[arg-type]
        return self.line(item, None, flow, params, via, None)

    def line(self, call: ast.Call, inputs: tuple[int, ...] | None, flow: int | None, params: dict[str, Val],
             via: tuple[str, ...], wired: ast.Wired | None) -> int | None:
        """A layer line or a block use, taking ``inputs`` (its named inputs), or ``flow`` when None."""
        if call.func in self.blocks:
            return self.block_use(call, inputs, flow, wired, params, via)
        cls = LAYER_CLASSES.get(call.func)
        if cls is not None and cls.is_input:
            if inputs is not None:
                self.sink.error("an Input takes no input: it is where data enters the model", wired.span)
                return None
            return self.add(LayerCall(call, params, via))
        if cls is not None and cls.is_merge and inputs is None:
            names = [a.value.id for a in call.args if a.name is None and isinstance(a.value, ast.Name)]
            if names and len(names) == len(call.args):  # Add(a, b): the Keras call written in one pair
                self.sink.error(f"{call.func}'s inputs go in a second pair of parentheses: write "
                                f"{call.func}()({', '.join(names)})", call.span)
                return None
            low, high = cls.min_inputs, cls.max_inputs
            count = "exactly two inputs" if high == 2 else f"{'two' if low == 2 else low} or more inputs"
            self.sink.error(f"{call.func} merges {count}: write {call.func}()(a, b)", call.span,
                            "name the outputs it merges (`a = ...`), or use `residual { ... }` or "
                            "`parallel " + call.func + "() { branch { ... } ... }`")
            return None
        if cls is not None and inputs is not None:
            if cls.is_merge:
                low, high = cls.min_inputs, cls.max_inputs
                if len(inputs) < low or (high is not None and len(inputs) > high):
                    count = f"exactly {high}" if high == low else f"{low} or more"
                    self.sink.error(f"{call.func} merges {count} inputs, received {len(inputs)}", wired.span)
                    return None
            elif len(inputs) != 1:
                self.sink.error(f"{call.func} takes one input, received {len(inputs)}", wired.span,
                                f"merge them first: Concatenate()({', '.join(n.id for n in wired.inputs)}) or "
                                f"Add()({', '.join(n.id for n in wired.inputs)})")
                return None
        if inputs is None:
            if flow is None:
                if not self.out:
                    self.sink.error(f"model '{self.model.name}' must start with Input(shape=[...])", call.span)
                return self.add(LayerCall(call, params, via))
            inputs = (flow,)
        return self.add(LayerCall(call, params, via, inputs))

    def block_use(self, call: ast.Call, inputs: tuple[int, ...] | None, flow: int | None, wired: ast.Wired | None,
                  params: dict[str, Val], via: tuple[str, ...]) -> int | None:
        block = self.blocks[call.func]
        if block.name in via:
            chain = " → ".join([*via[via.index(block.name):], block.name])
            self.sink.error(f"block '{block.name}' uses itself ({chain}); blocks cannot be recursive", call.span)
            return None
        if inputs is not None and len(inputs) != 1:
            self.sink.error(f"block {block.name} takes one input, received {len(inputs)}", wired.span,
                            "merge them first: Concatenate()(a, b) or Add()(a, b)")
            return None
        inner = _bind_block(block, call, params, self.evaluator, self.sink)
        if inner is None:
            return None
        if inputs is not None:
            flow = inputs[0]
        return self.body(block.body, _Scope(None), flow, inner, (*via, block.name))

    def residual(self, item: ast.Residual, scope: _Scope, flow: int | None, params: dict[str, Val],
                 via: tuple[str, ...]) -> int | None:
        if not item.body.items:
            self.sink.error("a residual needs layers in its body: y = body(x) + x", item.keyword_span)
            return None
        if flow is None:
            self.sink.error("a residual adds its body's output to its input: it needs a line before it",
                            item.keyword_span)
            return None
        body = self.body(item.body, _Scope(scope), flow, params, via)
        shortcut = flow if item.shortcut is None else self.body(item.shortcut, _Scope(scope), flow, params, via)
        if body is None or shortcut is None:
            return None
        add = ast.Call("Add", item.keyword_span, (), item.keyword_span)
        return self.add(LayerCall(add, params, via, (body, shortcut), residual=item.shortcut is None))

    def parallel(self, item: ast.Parallel, scope: _Scope, flow: int | None, params: dict[str, Val],
                 via: tuple[str, ...]) -> int | None:
        merge = item.merge
        cls = LAYER_CLASSES.get(merge.func)
        if cls is None or not cls.is_merge:
            self.sink.error(f"parallel joins its branches with a merge layer ({_MERGES}); "
                            f"{merge.func} is not one", merge.func_span)
            return None
        low, high = cls.min_inputs, cls.max_inputs
        n = len(item.branches)
        if n < low:
            self.sink.error(f"parallel {merge.func}() needs {'exactly' if high == low else 'at least'} {low} branches, "
                            f"received {n}", merge.func_span, "write each as branch { ... }")
            return None
        if high is not None and n > high:
            self.sink.error(f"parallel {merge.func}() takes exactly {high} branches, received {n}",
                            item.branches[high].span)
            return None
        if flow is None:
            self.sink.error("parallel gives its input to every branch: it needs a line before it", item.keyword_span)
            return None
        outs = [self.body(b.body, _Scope(scope), flow, params, via) for b in item.branches]
        if None in outs:
            return None
        return self.add(LayerCall(merge, params, via, tuple(outs)))  # type: ignore[arg-type]

    # ---- names -----------------------------------------------------------------------------------------------
    def bind_name(self, name: str, span: Span, index: int | None, scope: _Scope) -> None:
        clash = ("a block" if name in self.blocks else "a layer kind" if name in LAYER_CLASSES
                 else "a constant" if name in self.evaluator.constants else None)
        if clash is not None:  # `units = Input(...)` beside `units = 3`: one name, two meanings on one line
            self.sink.error(f"'{name}' is {clash} of the spec; a line's output needs a name of its own", span,
                            "choose another name")
            index = None  # bound all the same, as a line with an error: its uses are not reported again
        previous = scope.lookup(name)
        if previous is not None:
            first = self.bindings[previous].defined
            if first != span:  # a repeat or a block used twice defines it again in a scope of its own
                self.sink.error(f"'{name}' is already defined at line {first.line}", span,
                                "each name is defined once where it is visible; choose another name")
                return
        scope.names[name] = len(self.bindings)
        self.bindings.append(Binding(name, -1 if index is None else index, span))  # -1: its line had an error

    def reference(self, name: ast.Name, scope: _Scope) -> int | None:
        found = scope.lookup(name.id)
        if found is not None:
            self.referenced.add(found)
            index = self.bindings[found].index
            return index if index >= 0 else None  # a line that had an error: reported there, not again here
        self.sink.error(*self.undefined(name, scope))
        return None

    def undefined(self, name: ast.Name, scope: _Scope) -> tuple[str, Span, str | None]:
        """The error for a name no visible line defines (yet)."""
        if name.id in self.defining:
            return (f"'{name.id}' is used in its own definition: a cycle", name.span,
                    "a line can take only outputs defined before it")
        if self._definitions is None:
            self._definitions = _definitions(self.model, self.blocks)
        spans = self._definitions.get(name.id, [])
        later = [s for s in spans if (s.line, s.column) > (name.span.line, name.span.column)]
        if later and len(later) == len(spans):
            return (f"'{name.id}' is used before it is defined (at line {later[0].line})", name.span,
                    "a line can take only outputs defined before it: move the definition up")
        if spans:
            return (f"'{name.id}' is not visible here: it is defined at line {spans[0].line}, in another scope",
                    name.span, "names defined inside a residual, branch, repeat or block are local to it")
        return (f"'{name.id}' is not defined", name.span,
                did_you_mean(name.id, scope.visible()) or "name a line's output first: x = Dense(16)")


def _definitions(model: ast.ModelDef, blocks: dict[str, ast.BlockDef]) -> dict[str, list[Span]]:
    """Where each name is defined (``name = ...``) in the model and the blocks, in source order."""
    out: dict[str, list[Span]] = {}
    stack: list = [model.body, *(b.body for b in blocks.values())]
    while stack:
        node = stack.pop()
        if node.__class__ is ast.Named:
            out.setdefault(node.name, []).append(node.name_span)
        if isinstance(node, (ast.Body, ast.Named, ast.Residual, ast.Parallel, ast.Branch, ast.Repeat)):
            stack.extend(ast.children(node))
    for spans in out.values():
        spans.sort(key=lambda s: (s.line, s.column))
    return out


def _bind_block(block: ast.BlockDef, call: ast.Call, scope: dict[str, Val], evaluator: Evaluator,
                sink: DiagnosticSink) -> dict[str, Val] | None:
    names = [p.name for p in block.params]
    bound: dict[str, Val] = {}
    ok = True
    positional = call.positional
    if len(positional) > len(names):
        takes = f"{len(names)} argument{'s' if len(names) != 1 else ''}" if names else "no arguments"
        sink.error(f"block {block.name} takes {takes}, received {len(positional)}",
                   positional[len(names)].span)
        ok = False
    def evaluate(expr: ast.Expr, where: dict[str, Val]) -> Val | None:
        """The value of ``expr``, or None with its error reported, so every argument is checked."""
        try:
            return evaluator.evaluate(expr, where)
        except EvalError as exc:
            sink.error(exc.message, exc.span, exc.hint)
            return None

    for param, arg in zip(block.params, positional):
        bound[param.name] = evaluate(arg.value, scope)
    for arg in call.keywords:
        if arg.name not in names:
            sink.error(f"block {block.name} has no parameter '{arg.name}'", arg.span,
                       did_you_mean(arg.name, names) or f"its parameters: {', '.join(names) or 'none'}")
            ok = False
        elif arg.name in bound:
            sink.error(f"block {block.name}: parameter '{arg.name}' is given twice", arg.span)
            ok = False
        else:
            bound[arg.name] = evaluate(arg.value, scope)
    for param in block.params:
        if param.name not in bound:
            if param.default is None:
                sink.error(f"block {block.name}: missing required parameter '{param.name}'", call.span)
                ok = False
            else:
                bound[param.name] = evaluate(param.default, {})
    if not ok or any(v is None for v in bound.values()):
        return None
    return bound  # type: ignore[return-value]


def build_layers(calls: list[LayerCall], blocks: dict[str, ast.BlockDef], evaluator: Evaluator,
                 sink: DiagnosticSink) -> list[LayerBase]:
    """Bind each layer call to its IR class; unknown kinds and bad arguments go to ``sink``."""
    layers: list[LayerBase] = []
    arguments: dict[type, list[str]] = {}  # each class's argument names, asked once
    for lc in calls:
        call = lc.call
        cls = LAYER_CLASSES.get(call.func)
        note = f" (in block {' → '.join(lc.via)})" if lc.via else ""
        if cls is None:
            hint = did_you_mean(call.func, [*LAYER_CLASSES, *blocks])
            if call.func.lower() in ACTIVATION_KINDS:  # relu as a layer: Activation(relu) (or the ReLU layer)
                hint = f"an activation is a layer written Activation({call.func.lower()})" + (
                    f"; {hint}" if hint is not None else "")
            sink.error(f"unknown layer '{call.func}'{note}", call.func_span,
                       hint or "layers: " + ", ".join(LAYER_CLASSES))
            continue
        allowed = arguments.get(cls)
        if allowed is None:
            allowed = arguments[cls] = cls.argument_names()
        args, kwargs = _evaluated_args(evaluator, call, lc.scope, sink)
        errors: list[BindError] = []
        s = call.span  # validated with the layer, as a SourceSpan
        span = {"path": s.path, "line": s.line, "column": s.column, "end_line": s.end_line, "end_column": s.end_column}
        layer = bind(cls, args, kwargs, call.func + note, s, positional=cls.positional, allowed=allowed,
                     fixed={"span": span}, errors=errors)
        for e in errors:
            sink.error(e.message, e.span, e.hint)
        if layer is not None:
            if lc.name is not None and not layer.name:  # x = Input(...): the layer is named x, unless name= says
                problem = name_problem(lc.name)
                if problem is not None:
                    sink.error(f"the Input's name (its data key): {problem}", lc.name_span or call.span)
                    continue
                layer = layer.model_copy(update={"name": lc.name})
            layers.append(layer)  # type: ignore[arg-type]
    return layers


SHORTCUT_HINT = ("a projection shortcut makes the shapes agree: residual { ... } shortcut { Conv2D(filters, 1, "
                 "strides=...) }")


def input_problems(layers: list[LayerBase], calls: list[LayerCall], sink: DiagnosticSink) -> None:
    """A model with several Inputs names each (``x = Input(...)``, or ``name=``): the names are its data keys.
    ``layers``: bound, not yet named (one per call)."""
    inputs = [i for i, layer in enumerate(layers) if layer.is_input]
    if len(inputs) > 1:
        for i in inputs:
            if not layers[i].name:
                sink.error("a model with several inputs names each one: its name is its data key", calls[i].call.span,
                           "write x = Input(...)")


def wire(layers: list[LayerBase], expansion: Expansion, sink: DiagnosticSink) -> tuple[list[LayerBase], tuple[str, ...]]:
    """``layers`` (named and wired by ``name_layers(layers, sink, expansion.calls)``, one per call of
    ``expansion``) and the names of the model's outputs; a layer whose output nothing takes (no later line, no ``output``) is an error
    (reported once per line of the spec, whatever a repeat or block made of it)."""
    calls = expansion.calls
    wired = layers
    consumed = [False] * len(wired)
    for lc in calls:
        for s in lc.sources:
            consumed[s] = True
    for i in expansion.outputs:
        consumed[i] = True
    named: dict[int, Binding] = {}
    for b in expansion.bindings:
        if b.index >= 0:
            named.setdefault(b.index, b)
    reported: set[tuple[int, int]] = set()
    for i, layer in enumerate(wired):
        if consumed[i]:
            continue
        b = named.get(i)
        where = b.defined if b is not None else calls[i].call.span
        if (where.line, where.column) in reported:
            continue
        reported.add((where.line, where.column))
        if b is not None:
            sink.error(f"'{b.name}' is defined but never used", b.defined,
                       f"give it to a later line (Add()({b.name}, x), Dense(8)({b.name})), or make it a model "
                       f"output: output {b.name} = ...")
        else:
            sink.error(f"the output of {layer.kind} '{layer.name}' (line {where.line}) is never used", where,
                       "name it and give it to a later line (x = ...; Add()(x, y)), or mark it a model output "
                       "(output NAME = ...)")
    return wired, tuple(wired[i].name for i in expansion.outputs)


def _evaluated_args(evaluator: Evaluator, call: ast.Call, scope: dict[str, Val],
                    sink: DiagnosticSink) -> tuple[tuple[Val, ...], tuple[tuple[str, Val], ...]]:
    """A call's arguments evaluated, in order: the positional ones (``Val``), the keyword ones (``(name, Val)``).
    One that cannot be is reported and stands as ``UNEVALUATED``, so that the call's other arguments are
    still checked. (The parser has refused a positional argument after a keyword one.)"""
    args: list[Val] = []
    kwargs: list[tuple[str, Val]] = []
    for arg in call.args:
        try:
            if arg.name is None:
                args.append(evaluator.evaluate(arg.value, scope))
            else:
                kwargs.append(evaluator.keyword(arg, scope))
        except EvalError as exc:
            sink.error(exc.message, exc.span, exc.hint)
            if arg.name is None:
                args.append(Val(UNEVALUATED, arg.span))
            else:
                kwargs.append((arg.name, Val(UNEVALUATED, arg.span)))
    return tuple(args), tuple(kwargs)


def name_layers(layers: list[LayerBase], sink: DiagnosticSink,
                calls: list[LayerCall] | None = None) -> list[LayerBase]:
    """Give unnamed layers Keras' names (``dense``, ``dense_1``, ...); duplicate names are errors. With
    ``calls`` (the expansion, one per layer), each layer also gets the names of its inputs (``inputs``), in
    the same copy."""
    taken: dict[str, Span] = {}
    for layer in layers:
        if layer.name:
            if layer.name in taken:
                first = taken[layer.name]
                sink.error(f"duplicate layer name '{layer.name}' (first used at line {first.line})",
                           layer.span.to_span())
            else:
                taken[layer.name] = layer.span.to_span()
    counters: dict[str, int] = {}
    names = []
    for layer in layers:
        name = layer.name
        if not name:
            stem = type(layer).snake_name
            while True:
                n = counters.get(stem, 0)
                counters[stem] = n + 1
                name = stem if n == 0 else f"{stem}_{n}"
                if name not in taken:
                    break
            taken[name] = layer.span  # only the keys matter for a generated name
        names.append(name)
    out = []
    for i, layer in enumerate(layers):
        update = {}
        if names[i] != layer.name:
            update["name"] = names[i]
        if calls is not None and calls[i].sources:
            update["inputs"] = tuple([names[s] for s in calls[i].sources])
        out.append(layer.model_copy(update=update) if update else layer)
    return out
