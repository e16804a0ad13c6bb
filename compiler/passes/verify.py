"""Check an IR that did not come from the compiler (an IR ``.json``) by deriving it again.

Pydantic's validation of ``Spec`` checks each field's type and range and the names (``compiler.ir.names``).
What the compiler guarantees beyond that is checked here with the compiler's own rules, re-derived from
the IR's arguments rather than trusted:

- the IR version is this nnspec's, and the model has at most ``MAX_LAYERS`` layers;
- every name is valid and the layer names are unique;
- one Input, first, and layers after it (``compiler.passes.structure``); an adapting Normalization only
  after layers it can adapt through (``compiler.passes.adapting``);
- every number is finite (the evaluator refuses inf and nan in a spec);
- each value (activation, initializer, regularizer, loss) carries only the arguments its kind takes, the
  others at the values the compiler gives them (``leaky_relu`` has an ``alpha``, ``relu`` none);
- each layer is what the compiler builds from its arguments: initializers resolved, strides filled in,
  input and output shapes and parameter counts inferred again and compared (``compiler.passes.shapes``);
- the train section's cross-setting rules (``compiler.passes.training.training_problems``): clip_norm or
  clip_value, an early-stopping monitor that training records;
- the loss and the model's output make a pairing nnspec accepts (``compiler.semantics.losses.loss_problems``).
"""

from __future__ import annotations

import math
from typing import Iterator

from pydantic import BaseModel

from compiler.ir import training as tr
from compiler.ir import values as iv
from compiler.ir.names import name_problem, show_name
from compiler.ir.spec import IR_VERSION, Spec
from compiler.ir.layers import LayerBase
from compiler.passes.adapting import adapting_problems
from compiler.passes.build import MAX_LAYERS
from compiler.passes.initializers import resolve_auto
from compiler.passes.shapes import infer_shapes
from compiler.passes.structure import layout_problems
from compiler.passes.training import LOSS_ARGS, data_key_problems, output_losses, training_problems
from compiler.semantics.outputs import key_problem, output_problems
from compiler.semantics.losses import loss_problems
from compiler.passes.value_kinds import (ACTIVATION_ARGS, ACTIVATION_DEFAULTS, INITIALIZER_ARGS, INITIALIZER_DEFAULTS,
                                         REGULARIZER_ARGS, REGULARIZER_DEFAULTS)
from spec_lang.diagnostics import DiagnosticSink

# Value classes whose fields depend on their kind: (arguments each kind takes, each kind's defaults).
KIND_ARGUMENTS: dict[type, tuple[dict, dict]] = {
    iv.ActivationFn: (ACTIVATION_ARGS, ACTIVATION_DEFAULTS),
    **{cls: (INITIALIZER_ARGS, INITIALIZER_DEFAULTS)
       for cls in (iv.Auto, iv.ConstantInit, iv.RandomNormal, iv.RandomUniform, iv.VarianceScaling, iv.Orthogonal)},
    iv.Regularizer: (REGULARIZER_ARGS, REGULARIZER_DEFAULTS),
    tr.Loss: (LOSS_ARGS, {}),
}
NOT_ARGUMENTS = frozenset({"kind", "span", "auto"})  # set by the compiler, not by a spec's arguments
DERIVED = {"input_shape": None, "output_shape": None, "trainable_params": 0, "non_trainable_params": 0}


def verify(spec: Spec) -> list[str]:
    """Every way ``spec`` differs from what the compiler produces, one message each ("where: what");
    empty when the IR is one the compiler could have written. Never raises for a validated ``Spec``."""
    if spec.ir_version != IR_VERSION:
        return [f"ir_version: this IR is version {spec.ir_version}; this nnspec reads version {IR_VERSION} "
                "(compile the spec again with `nnspec compile`)"]
    if len(spec.layers) > MAX_LAYERS:
        return [f"layers: {len(spec.layers):,} layers, more than a model may have ({MAX_LAYERS:,})"]
    problems = _name_problems(spec)
    layout = layout_problems(spec.layers, spec.name, spec.outputs)
    problems += [f"{_where(spec, i) if i is not None else 'layers'}: {message}" for i, message in layout]
    if layout:  # the passes below walk the graph: a miswired one (a layer before its input) is refused as it is
        return problems
    problems += [f"{_where(spec, i)}: {message}" for i, message in adapting_problems(spec.layers)]
    for where, node in _nodes(spec, "spec"):
        problems += _node_problems(where, node)
    if not problems:
        problems += _layer_problems(spec)
    problems += [f"output_keys[{i}]: {p}" for i, key in enumerate(spec.output_keys) if (p := key_problem(key))]
    twice = next((key for i, key in enumerate(spec.output_keys) if key in spec.output_keys[:i]), None)
    if twice is not None:
        problems.append(f"output_keys: the key {show_name(twice)} is given twice")
    if len(spec.output_keys) not in (0, len(spec.output_names)):
        problems.append(f"output_keys: {len(spec.output_keys)} keys for {len(spec.output_names)} outputs")
    if spec.training is not None:
        problems += [f"training.{setting}: {message}"
                     for setting, message, _ in training_problems(spec.training, spec.output_keys)]
        problems += [f"training.{setting}: {message}"
                     for setting, _, message, _ in output_problems(spec.training, spec.output_keys)]
        problems += [f"training.data: {message}" for _, message, _ in
                     data_key_problems(spec.training, spec.input_key_names, spec.output_key_names)]
        if len(spec.output_names) == 1 and (isinstance(spec.training.loss, tuple) or spec.training.loss_weights):
            problems.append("training: a model of one output takes one loss, without loss_weights")
        for loss, output in output_losses(spec.training, spec.output_keys, spec.layers, spec.output_names):
            problems += [f"{'training.loss' if p.layer is None else _where(spec, p.layer)}: {p.message}"
                         for p in loss_problems(spec.layers, loss, output)]
    return problems


def _where(spec: Spec, index: int) -> str:
    layer = spec.layers[index]
    return f"layers[{index}] ({layer.kind} {show_name(layer.name)})"


def _name_problems(spec: Spec) -> list[str]:
    problems = [f"name: {p}" for p in [name_problem(spec.name)] if p]
    first: dict[str, int] = {}
    for i, layer in enumerate(spec.layers):
        if (problem := name_problem(layer.name)) is not None:
            problems.append(f"layers[{i}].name: {problem}")
        elif layer.name in first:
            problems.append(f"{_where(spec, i)}: the name is also used by layers[{first[layer.name]}]; layer names "
                            "must be unique")
        first.setdefault(layer.name, i)
    return problems


def _nodes(node: BaseModel, where: str) -> Iterator[tuple[str, BaseModel]]:
    """``node`` and every IR node inside it, each with its path (``spec.layers[2].activation``)."""
    yield where, node
    for key in type(node).model_fields:
        value = getattr(node, key)
        items = enumerate(value) if isinstance(value, tuple) else [(None, value)]
        for i, item in items:
            if isinstance(item, BaseModel):
                yield from _nodes(item, f"{where}.{key}" + (f"[{i}]" if i is not None else ""))


def _node_problems(where: str, node: BaseModel) -> list[str]:
    """Non-finite numbers in ``node``'s own fields; fields its kind does not take, not at their defaults."""
    where = where.removeprefix("spec.")
    problems = []
    for key in type(node).model_fields:
        value = getattr(node, key)
        for v in value if isinstance(value, tuple) else (value,):
            if isinstance(v, float) and not math.isfinite(v):
                problems.append(f"{where}.{key}: {v} is not a finite number")
    if type(node) not in KIND_ARGUMENTS:
        return problems
    arguments, defaults = KIND_ARGUMENTS[type(node)]
    kind = node.kind
    for key, field in type(node).model_fields.items():
        if key in NOT_ARGUMENTS:
            continue
        expected = defaults.get(kind, {}).get(key, field.default)
        value = getattr(node, key)
        if key not in arguments.get(kind, ()) and value != expected:
            problems.append(f"{where}.{key}: {kind} takes no argument '{key}' (it is {value!r}; the compiler "
                            f"gives {expected!r})")
        elif value is None and expected is not None:
            problems.append(f"{where}.{key}: {kind} needs '{key}' (the compiler gives {expected!r})")
    return problems


def _layer_problems(spec: Spec) -> list[str]:
    """Each layer against the one the compiler builds from its arguments: initializers, strides, shapes and
    parameter counts derived again."""
    stripped = [layer.model_copy(update={**DERIVED, **({"input_shapes": None} if layer.is_merge else {})})
                for layer in spec.layers]
    sink = DiagnosticSink()
    rebuilt: list[LayerBase] = infer_shapes(resolve_auto(stripped, spec.outputs or None), sink)
    if sink.errors:  # inference stops at the first layer that cannot take its input: the first left unshaped
        failed = next(i for i, layer in enumerate(rebuilt) if layer.output_shape is None)
        return [f"{_where(spec, failed)}: {sink.errors[0].message}"]
    problems = []
    for i, (given, derived) in enumerate(zip(spec.layers, rebuilt)):
        for key in type(given).model_fields:
            if getattr(given, key) != getattr(derived, key):
                problems.append(f"{_where(spec, i)}.{key}: {_short(getattr(given, key))} in the IR, but the "
                                f"compiler derives {_short(getattr(derived, key))} from the layer's arguments")
    return problems


def _short(value: object, limit: int = 80) -> str:
    """``value`` for a message: JSON for an IR node, else its repr; at most ``limit`` characters, escaped."""
    text = value.model_dump_json() if isinstance(value, BaseModel) else repr(value)
    return ascii(text if len(text) <= limit else text[:limit] + "...")[1:-1]
