"""The compile pipeline: text → AST → IR, through every pass; all errors reported together."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Iterable

from compiler.ir.base import SourceSpan
from compiler.ir.names import name_problem
from compiler.ir.spec import Spec
from compiler.ir.layers import LAYER_CLASSES
from compiler.passes import training as _training  # noqa: F401 - registers the training value kinds
from compiler.passes.adapting import HINT as ADAPTING_HINT, adapting_problems
from compiler.passes.build import SHORTCUT_HINT, Expansion, build_layers, expand, input_problems, name_layers, wire
from compiler.passes.evaluate import EvalError, Evaluator
from compiler.passes.initializers import resolve_auto
from compiler.passes.lint import lint
from compiler.passes.shapes import infer_shapes
from compiler.passes.suppressions import Suppressions, read_suppressions
from compiler.passes.structure import layout_problems
from compiler.passes.training import build_training, data_key_problems, declared_output_keys, output_losses
from compiler.semantics.losses import loss_problems
from compiler.space.refusal import search_space_refusal
from compiler.passes.value_kinds import KNOWN_CONSTANTS
from spec_lang import ast, parse, read_source
from spec_lang.parser import paused_gc
from spec_lang.diagnostics import Diagnostic, DiagnosticSink, SpecError
from spec_lang.records import Record, record
from spec_lang.span import Source


@record
class CompileResult(Record):
    """A compiled spec with its warnings, already filtered through ``suppressions`` (suppression
    comments and ``ignore``). Warnings found later about this spec (e.g. at train time) go through
    ``suppressions.keep`` too."""

    spec: Spec
    warnings: list[Diagnostic]
    source: Source
    suppressions: Suppressions = Suppressions()


def compile_file(path: str | Path, ignore: Iterable[str] = ()) -> CompileResult:
    """Compile a spec file; raise ``SpecError`` carrying every error. ``ignore``: lint codes to silence."""
    return compile_source(read_source(path), ignore)


def compile_text(text: str, path: str = "<string>", ignore: Iterable[str] = ()) -> CompileResult:
    return compile_source(Source(path, text), ignore)


def compile_source(source: Source, ignore: Iterable[str] = ()) -> CompileResult:
    """Compile ``source``; raise ``SpecError`` carrying every error. The warnings are those that neither
    ``ignore`` (known lint codes) nor a suppression comment in the source silences."""
    try:
        with paused_gc():  # many acyclic objects: without this the collector makes big specs superlinear
            module = parse(source)
    except RecursionError:
        raise SpecError([Diagnostic("error", "the spec nests constants or blocks too deeply to compile", None)],
                        source) from None
    return compile_parsed(module, source, ignore)


def compile_parsed(module: ast.Module, source: Source, ignore: Iterable[str] = ()) -> CompileResult:
    """Compile an already parsed ``module`` of ``source`` (as ``compile_source`` does after parsing);
    raise ``SpecError`` carrying every error. Diagnostics point at ``module``'s spans, so a module built
    from ``source`` by substituting nodes (a point of a search space) is reported in ``source``. A module that
    still holds a search dimension is refused with one error there (``compiler.space.refusal``)."""
    refusal = search_space_refusal(module, source.text)
    if refusal is not None:
        raise SpecError([refusal], source)
    try:
        with paused_gc():
            sink = DiagnosticSink()
            spec = compile_module(module, sink)
    except RecursionError:  # e.g. hundreds of constants or blocks, each defined by the next
        raise SpecError([Diagnostic("error", "the spec nests constants or blocks too deeply to compile", None)],
                        source) from None
    if sink.errors or spec is None:
        raise SpecError(_in_source_order(sink.errors), source)
    suppressions = read_suppressions(module.comments, source.path, ignore)
    warnings = suppressions.keep([*sink.warnings, *lint(spec), *suppressions.problems])
    return CompileResult(spec, warnings, source, suppressions)


def _in_source_order(errors: list[Diagnostic]) -> list[Diagnostic]:
    """Errors sorted by position, each once: a block used (or repeated) N times reports its errors once."""
    unique = list(dict.fromkeys(errors))
    return sorted(unique, key=lambda d: (d.span.line, d.span.column) if d.span else (0, 0))


def compile_module(module: ast.Module, sink: DiagnosticSink) -> Spec | None:
    """Run the passes on a parsed module: resolve, expand, build, initializers, shapes."""
    constants: dict[str, ast.ConstDef] = {}
    blocks: dict[str, ast.BlockDef] = {}
    models: list[ast.ModelDef] = []
    trains: list[ast.TrainDef] = []
    for stmt in module.statements:
        if isinstance(stmt, ast.ConstDef):
            _define(constants, stmt.name, stmt, "constant", stmt.span, sink)
        elif isinstance(stmt, ast.BlockDef):
            if stmt.name in LAYER_CLASSES:
                sink.error(f"block '{stmt.name}' has the name of a layer kind", stmt.name_span, "rename the block")
            else:
                _define(blocks, stmt.name, stmt, "block", stmt.name_span, sink)
        elif isinstance(stmt, ast.ModelDef):
            models.append(stmt)
        else:
            trains.append(stmt)
    for extra in models[1:]:
        sink.error("a spec holds one model; this is a second", extra.name_span)
    for extra in trains[1:]:
        sink.error("a spec holds one train section; this is a second", extra.span)
    if not models:
        sink.error("the spec defines no model", None,
                   "add: model name { Input(shape=[...]) ... }")
        return None
    KNOWN_CONSTANTS.set(tuple(constants))
    evaluator = Evaluator(constants)
    for const in constants.values():  # report every bad constant, even unused ones
        try:
            evaluator.constant(const.name, const.span)
        except EvalError as exc:
            sink.error(exc.message, exc.span, exc.hint)
    model = models[0]
    if (problem := name_problem(model.name)) is not None:
        sink.error(f"model name: {problem}", model.name_span)
    expansion = expand(model, blocks, evaluator, sink)
    layers = build_layers(expansion.calls, blocks, evaluator, sink)
    output_keys = declared_output_keys(model)
    training = build_training(trains[0], evaluator, sink, output_keys) if trains else None
    if not model.body.items:
        sink.error(f"model '{model.name}' has no layers", model.name_span, "start it with Input(shape=[...])")
        return None
    if sink.errors:
        return None
    input_problems(layers, expansion.calls, sink)
    layers = name_layers(layers, sink, expansion.calls)
    if sink.errors:
        return None
    layers, outputs = wire(layers, expansion, sink)
    if sink.errors:
        return None
    for index, message in layout_problems(layers, model.name, outputs):
        sink.error(message, layers[index].span.to_span() if index is not None else model.name_span)
    if sink.errors:
        return None
    shape_errors = len(sink.diagnostics)
    layers = infer_shapes(resolve_auto(layers, outputs), sink)
    _suggest_shortcuts(sink, shape_errors, expansion)
    for index, message in adapting_problems(layers):
        sink.error(message, layers[index].span.to_span(), ADAPTING_HINT)
    for loss, output in output_losses(training, output_keys, layers, outputs):
        for problem in loss_problems(layers, loss, output):
            where = loss.span if problem.layer is None else layers[problem.layer].span
            sink.error(problem.message, where.to_span() if where else model.name_span, problem.hint)
    if training is not None:  # named data: a key per Input and output (compiler.passes.training)
        inputs = tuple(layer.name for layer in layers if layer.is_input)
        for where, message, hint in data_key_problems(training, inputs, output_keys or outputs[:1]):
            sink.error(message, where.to_span() if where else model.name_span, hint)
    if sink.errors:
        return None
    # Every part is already a validated IR node (built by bind(), updated by model_copy), and pydantic
    # does not revalidate nested model instances: validating the Spec would only check their classes,
    # after building the largest validator of the IR (about 3 ms of every `nnspec check`).
    return Spec.model_construct(name=model.name, source=module.path, span=SourceSpan.of(model.span),
                                layers=tuple(layers), outputs=outputs, output_keys=output_keys, training=training)


def _suggest_shortcuts(sink: DiagnosticSink, since: int, expansion: Expansion) -> None:
    """A shape error of a residual's Add (no shortcut) from diagnostic ``since`` on gets the hint of a projection."""
    residuals = {lc.call.span for lc in expansion.calls if lc.residual}
    if not residuals:
        return
    for i in range(since, len(sink.diagnostics)):
        d = sink.diagnostics[i]
        if d.severity == "error" and d.span in residuals and d.hint is None:
            sink.diagnostics[i] = replace(d, hint=SHORTCUT_HINT)


def _define(table: dict, name: str, node, what: str, span, sink: DiagnosticSink) -> None:
    if name in table:
        sink.error(f"{what} '{name}' is defined twice (first at line {table[name].span.line})", span)
    else:
        table[name] = node


__all__ = ["CompileResult", "SpecError", "compile_file", "compile_module", "compile_parsed", "compile_source",
           "compile_text"]
