"""AST → IR layers: expand blocks and repeats, bind each layer call, name layers as Keras does."""

from __future__ import annotations

from compiler.ir.layers import LAYER_CLASSES, LayerBase
from compiler.passes.bind import UNEVALUATED, BindError, bind
from compiler.passes.evaluate import EvalError, Evaluator, Val
from compiler.passes.value_kinds import ACTIVATION_KINDS
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


class _TooMany(Exception):
    pass


@record
class LayerCall(Record):
    """A layer call after expansion, with the block parameters in force where it stands."""

    call: ast.Call
    scope: dict[str, Val]
    via: tuple[str, ...]  # the blocks it came through, outermost first


def expand(model: ast.ModelDef, blocks: dict[str, ast.BlockDef], evaluator: Evaluator,
           sink: DiagnosticSink) -> list[LayerCall]:
    """Flatten the model body: ``repeat N {…}`` N times, each block use replaced by its body.

    More than ``MAX_LAYERS`` layers is an error found while expanding: nothing is returned to bind.
    """
    out: list[LayerCall] = []
    try:
        _expand_body(model.body, {}, (), blocks, evaluator, sink, out)
    except _TooMany:
        sink.error(f"the model expands to more than {MAX_LAYERS:,} layers (the limit)", model.span,
                   "split the model, or write fewer, wider layers")
        return []
    return out


def _expand_body(body: ast.Body, scope: dict[str, Val], via: tuple[str, ...], blocks: dict[str, ast.BlockDef],
                 evaluator: Evaluator, sink: DiagnosticSink, out: list[LayerCall]) -> None:
    for item in body.items:
        if isinstance(item, ast.Repeat):
            try:
                count = evaluator.evaluate(item.count, scope)
            except EvalError as exc:
                sink.error(exc.message, exc.span, exc.hint)
                continue
            n = count.value
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_REPEAT:
                sink.error(f"repeat: expected a whole number from 1 to {MAX_REPEAT}, received {count.describe()}",
                           count.span)
                continue
            for _ in range(n):
                _expand_body(item.body, scope, via, blocks, evaluator, sink, out)
        elif item.func in blocks:
            block = blocks[item.func]
            if block.name in via:
                chain = " → ".join([*via[via.index(block.name):], block.name])
                sink.error(f"block '{block.name}' uses itself ({chain}); blocks cannot be recursive", item.span)
                continue
            inner = _bind_block(block, item, scope, evaluator, sink)
            if inner is not None:
                _expand_body(block.body, inner, (*via, block.name), blocks, evaluator, sink, out)
        else:
            if len(out) >= MAX_LAYERS:
                raise _TooMany
            out.append(LayerCall(item, scope, via))


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
            if hint is None and call.func.lower() in ACTIVATION_KINDS:
                hint = f"an activation is a layer written Activation({call.func.lower()})"
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
            layers.append(layer)  # type: ignore[arg-type]
    return layers


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


def name_layers(layers: list[LayerBase], sink: DiagnosticSink) -> list[LayerBase]:
    """Give unnamed layers Keras' names (``dense``, ``dense_1``, ...); duplicate names are errors."""
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
    out = []
    for layer in layers:
        if not layer.name:
            stem = type(layer).snake_name
            while True:
                n = counters.get(stem, 0)
                counters[stem] = n + 1
                candidate = stem if n == 0 else f"{stem}_{n}"
                if candidate not in taken:
                    break
            taken[candidate] = layer.span.to_span()
            layer = layer.model_copy(update={"name": candidate})
        out.append(layer)
    return out
