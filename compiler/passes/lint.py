"""Lints: warnings with spans, never errors. Mostly the seed's guidelines made checkable.

Each check is a function ``(spec) -> list of (message, span, hint, code)``; ``LINTS`` runs them all.
Every code a warning can carry is registered in ``CODES`` (``_warn`` refuses any other): ``--ignore``
and suppression comments accept exactly these, and tests/test_lint_suppression.py needs an example
spec for each.
"""

from __future__ import annotations

from typing import Callable, Iterator

from compiler.ir.graph import Graph
from compiler.ir.spec import Spec
from compiler.ir.training import (BUILTIN_DATASETS, SANE_LEARNING_RATES, BlobsData, BuiltinData, RegressionData,
                                  ShapeMasksData, ShapesData, SpiralsData)
from compiler.ir.values import RELU_FAMILY, SATURATING, VarianceScaling
from compiler.passes.initializers import following_activation, kernel_initializer_fields
from compiler.semantics.losses import PROBABILITY_ACTIVATIONS, output_activation, output_path
from compiler.semantics.outputs import heads
from compiler.passes.input_scale import HINT as INPUT_SCALE_HINT, FeatureScale, expected_scale, unscaled_message
from spec_lang.diagnostics import Diagnostic

SATURATING_DEPTH = 5
Found = Iterator[Diagnostic]

# Every warning code -> what it flags (the README's lint table says the same).
CODES: dict[str, str] = {
    "init-activation": "Glorot chosen by hand before a ReLU-family activation, or He before tanh/sigmoid",
    "saturating-depth": "5 or more stacked tanh/sigmoid layers with no normalization",
    "dropout-before-batchnorm": "Dropout directly before BatchNormalization",
    "bias-before-batchnorm": "a bias that the following BatchNormalization (or per-channel normalization) cancels",
    "softmax-from-logits": "softmax/sigmoid probabilities, flattened or pooled on their way out, read as logits",
    "logits-not-probabilities": "an output of no softmax/sigmoid read as probabilities (from_logits=false)",
    "one-unit-softmax": "categorical cross-entropy on a single output unit",
    "learning-rate": "a learning rate outside the usual range of its optimizer",
    "data-shape": "a bundled or generated data set that does not fit the input",
    "data-classes": "a bundled or generated data set that does not fit the output",
    "early-stopping-validation": "early stopping on a val_* metric with no validation split",
    "unscaled-inputs": "input features far from unit scale that the model does not scale (Normalization, Rescaling)",
    "bad-suppression": "a suppression comment that names an unknown code or is not where it applies",
}


def _warn(code: str, message: str, span, hint: str | None = None) -> Diagnostic:
    if code not in CODES:
        raise KeyError(f"lint code {code!r} is not registered in compiler.passes.lint.CODES")
    return Diagnostic("warning", message, span.to_span() if span is not None else None, hint, code)


_last_graph: tuple = ((), (), None)  # (layers, outputs, graph) of the last spec asked: the lints ask the same one


def spec_graph(spec: Spec) -> Graph:
    """``Graph.of`` the spec's layers and outputs, made once for the lints and the summary of one spec (the
    layers are a tuple of frozen nodes: the same tuple is the same graph)."""
    global _last_graph
    layers, outputs, graph = _last_graph
    if layers is not spec.layers or outputs != spec.outputs or graph is None:
        graph = Graph.of(spec.layers, spec.outputs or None)
        _last_graph = (spec.layers, spec.outputs, graph)
    return graph


_graph = spec_graph


def _field(layer, name: str, default=None):
    """``getattr(layer, name, default)`` without pydantic's slow path for a field the kind does not have."""
    return getattr(layer, name) if name in type(layer).model_fields else default


def init_against_activation(spec: Spec) -> Found:
    """Glorot chosen by hand before a ReLU-family activation, or He before tanh/sigmoid (the activation that
    follows: ``following_activation``, through the one consumer of each output)."""
    layers = list(spec.layers)
    graph = _graph(spec)
    for i, layer in enumerate(layers):
        chosen = [init for init in (_field(layer, f) for f in kernel_initializer_fields(layer))
                  if isinstance(init, VarianceScaling) and not init.auto]
        if not chosen:
            continue
        init = chosen[0]  # one warning per layer (a SeparableConv2D has two kernels)
        act = following_activation(layers, i, graph).kind
        family = init.kind.split("_")[0]
        if family == "glorot" and act in RELU_FAMILY:
            yield _warn("init-activation", f"layer '{layer.name}': {init.kind} before {act}", layer.span,
                        f"He initialization suits {act} (he_{init.kind.split('_')[1]}; or leave it auto)")
        elif family == "he" and act in SATURATING:
            yield _warn("init-activation", f"layer '{layer.name}': {init.kind} before {act}", layer.span,
                        f"Glorot initialization suits {act} (glorot_{init.kind.split('_')[1]}; or leave it auto)")


def saturating_depth(spec: Spec) -> Found:
    """Many tanh/sigmoid layers in a row without normalization: gradients tend to vanish. In a graph, the run
    ending at a layer is the longest along any path into it (a merge takes the longest of its inputs'); a
    kernel followed by another activation, or a normalization, ends it. One pass in order: linear."""
    layers = list(spec.layers)
    graph = _graph(spec)
    runs = [0] * len(layers)
    for i, layer in enumerate(layers):
        before = max((runs[s] for s in graph.sources[i]), default=0)
        if layer.normalizes_batch:
            run = 0
        elif not layer.has_kernel:
            run = before
        else:
            run = before + 1 if following_activation(layers, i, graph).kind in SATURATING else 0
        runs[i] = run
        if layer.has_kernel and not layer.normalizes_batch:
            if run == SATURATING_DEPTH and before == SATURATING_DEPTH - 1:
                yield _warn("saturating-depth", f"{run} stacked layers with saturating activations (tanh/sigmoid) "
                            "and no normalization: gradients may vanish", layer.span,
                            "use a ReLU-family activation, or add BatchNormalization")


def dropout_before_batchnorm(spec: Spec) -> Found:
    """Dropout right before BatchNormalization (its input, in a graph) shifts the statistics between training
    and inference."""
    graph = _graph(spec)
    for i, layer in enumerate(spec.layers):
        if not layer.normalizes_batch:
            continue
        source = graph.only_source(i)
        prev = spec.layers[source] if source is not None else None
        if prev is not None and prev.random:
            yield _warn("dropout-before-batchnorm", f"{prev.kind} '{prev.name}' directly before BatchNormalization: "
                        "the variance it sees differs between training and inference", prev.span,
                        "put Dropout after BatchNormalization (and its activation)")


def bias_before_batchnorm(spec: Spec) -> Found:
    """A bias followed by BatchNormalization (with center) is cancelled by it: wasted parameters. "Followed"
    goes through the one layer that takes the output, across merges that only add, subtract, average or
    concatenate (a residual's Add: BN(x + W·h + b) = BN(x + W·h)), and through the layers that
    ``passes_channel_offsets`` (cropping, pooling: BN(pool(W·h + b)) = BN(pool(W·h))), since a constant added
    there is still a constant per channel that the normalization subtracts."""
    graph = _graph(spec)
    layers = spec.layers
    for i, prev in enumerate(layers):
        if not _field(prev, "use_bias", False) or prev.activation_fn.kind != "linear":
            continue
        j = graph.only_consumer(i)
        while j is not None and (layers[j].passes_channel_offsets
                                 or (layers[j].is_merge and layers[j].transparent)):
            j = graph.only_consumer(j)
        layer = layers[j] if j is not None else None
        if layer is not None and layer.cancels_bias:
            yield _warn("bias-before-batchnorm", f"layer '{prev.name}' has a bias that the {layer.kind} after "
                        "it cancels", prev.span, "set use_bias=false")


def output_against_loss(spec: Spec) -> Found:
    """A cross-entropy that reads the output as something it is not (``compiler.semantics.losses``; the
    pairings that are surely mistakes — from_logits=true right after a softmax/sigmoid, … — are errors):
    softmax/sigmoid probabilities reshaped or pooled on their way out, read as logits (from_logits=true);
    an output of no softmax/sigmoid read as probabilities (from_logits=false)."""
    for head in heads(spec):  # each output with its own loss (compiler.semantics.outputs)
        yield from _output_against_loss(spec, head.layer, head.loss)


def _output_against_loss(spec: Spec, output: int, loss) -> Found:
    if not loss.is_classification:
        return
    last = spec.layers[output]
    found = output_activation(spec.layers, output)
    act = found[1] if found else "linear"
    squashed = squashing_before_output([spec.layers[i] for i in reversed(output_path(spec.layers, output))])
    if act in PROBABILITY_ACTIVATIONS:
        pass  # the loss reads the activation's input, or the pairing is an error (loss_problems)
    elif squashed is not None:
        layer, act = squashed
        if loss.from_logits:
            yield _warn("softmax-from-logits", f"the output is {act} probabilities (from '{layer.name}', passed "
                        f"on by {last.kind}) but the loss has from_logits=true: it applies {act} again",
                        loss.span or last.span, f"remove the {act}, or set from_logits=false")
    elif not loss.from_logits:
        yield _warn("logits-not-probabilities", f"the loss reads the output as probabilities (from_logits=false: "
                    f"clipped to [1e-7, 1 − 1e-7]) but the output is {act}", loss.span or last.span,
                    "set from_logits=true, or end with a softmax/sigmoid activation")
    units = (last.output_shape or (0,))[-1]
    if loss.kind in ("categorical_crossentropy", "sparse_categorical_crossentropy") and units == 1:
        yield _warn("one-unit-softmax", f"{loss.kind} on a single output unit is always 0", loss.span or last.span,
                    "use binary_crossentropy for two classes, or one unit per class")


def squashing_before_output(layers: list) -> tuple | None:
    """(layer, kind) of the last softmax/sigmoid before the output when only layers that add no
    nonlinearity of their own (``transparent``, a linear Activation) follow it, else None."""
    for layer in reversed(layers):
        act = layer.activation_fn
        if act is not None and act.kind != "linear":
            return (layer, act.kind) if act.kind in PROBABILITY_ACTIVATIONS else None
        if not (layer.transparent or layer.is_activation):
            return None
    return None


def learning_rate_range(spec: Spec) -> Found:
    """A learning rate far outside the usual range of its optimizer."""
    if spec.training is None:
        return
    opt = spec.training.optimizer
    low, high = SANE_LEARNING_RATES[opt.kind]
    if not low <= opt.learning_rate <= high:
        side = "small" if opt.learning_rate < low else "large"
        yield _warn("learning-rate", f"learning rate {opt.learning_rate:g} is unusually {side} for {opt.kind}",
                    opt.span or spec.training.span,
                    f"{opt.kind} usually trains with a rate in [{low:g}, {high:g}]")


def data_against_model(spec: Spec) -> Found:
    """A bundled or generated data set whose feature or class count does not fit the model."""
    data = spec.training.data if spec.training is not None else None
    if spec.multi_io:  # named arrays, checked key by key when they are loaded (runtime.data)
        return
    if isinstance(data, BuiltinData):
        features, classes = BUILTIN_DATASETS[data.name]
    elif isinstance(data, (SpiralsData, BlobsData, ShapesData, ShapeMasksData)):
        features, classes = data.features, data.classes
    elif isinstance(data, RegressionData):
        features, classes = data.features, None
    else:
        return
    name = data.name if isinstance(data, BuiltinData) else data.kind
    n_in = 1
    for d in spec.input_shape or ():
        n_in *= d
    if n_in != features:
        shape = list(getattr(data, "sample_shape", (features,)))
        what = f"images of {'×'.join(map(str, shape))} ({features} values)" if len(shape) > 1 else \
            f"{features} features"
        yield _warn("data-shape", f"data set {name} has {what} per sample but the "
                    f"model input {list(spec.input_shape)} holds {n_in}", spec.layers[0].span,
                    f"use an input of {features} values, e.g. Input({shape})")
    units = (spec.output_shape or (0,))[-1]
    loss = heads(spec)[0].loss.kind
    if isinstance(data, ShapeMasksData) and tuple(spec.output_shape or ())[:-1] != data.target_shape:
        size = data.size
        yield _warn("data-shape", f"data set {name} labels every pixel of its {size}×{size} images but the model "
                    f"output {list(spec.output_shape)} is not {size}×{size}×(classes)", spec.layers[-1].span,
                    f"end the model with an output of [{size}, {size}, {classes}], e.g. Conv2D({classes}, 1, "
                    "activation=softmax) at full resolution")
        return
    if classes is None and units != 1:
        yield _warn("data-classes", f"data set {name} has one target per sample but the model outputs {units}",
                    spec.layers[-1].span, "end the model with one output unit")
    elif loss in ("categorical_crossentropy", "sparse_categorical_crossentropy") and units != classes:
        yield _warn("data-classes", f"data set {name} has {classes} classes but the model outputs {units}",
                    spec.layers[-1].span, f"end the model with {classes} units, one per class")
    elif loss == "binary_crossentropy" and classes is not None and classes != 2:
        yield _warn("data-classes", f"binary_crossentropy needs 2 classes but data set {name} has {classes}",
                    spec.layers[-1].span, "use sparse_categorical_crossentropy with one unit per class")


def early_stopping_without_validation(spec: Spec) -> Found:
    """Early stopping on a val_* metric with no validation split never sees that metric."""
    t = spec.training
    if t is not None and t.early_stopping and t.early_stopping.monitor.startswith("val_") and t.validation_split == 0:
        yield _warn("early-stopping-validation", f"early stopping monitors {t.early_stopping.monitor} but "
                    "validation_split is 0", t.span, "set validation_split, e.g. 0.2")


def unscaled_inputs_warning(spec: Spec, scale: FeatureScale | None, data: str) -> Diagnostic | None:
    """``unscaled-inputs`` for ``spec`` trained on ``data`` of feature scale ``scale`` (the rule is
    ``compiler.passes.input_scale``'s); train calls it with a file's measured scale."""
    message = unscaled_message(spec, scale, data)
    return None if message is None else _warn("unscaled-inputs", message, spec.layers[0].span, INPUT_SCALE_HINT)


def unscaled_inputs(spec: Spec) -> Found:
    """Bundled or generated data far from unit scale, fed to a model that does not scale it."""
    data = spec.training.data if spec.training is not None else None
    if data is None:
        return
    name = data.name if isinstance(data, BuiltinData) else data.kind
    found = unscaled_inputs_warning(spec, expected_scale(spec), name)
    if found is not None:
        yield found


LINTS: tuple[Callable[[Spec], Found], ...] = (
    init_against_activation, saturating_depth, dropout_before_batchnorm, bias_before_batchnorm,
    output_against_loss, learning_rate_range, data_against_model, early_stopping_without_validation,
    unscaled_inputs,
)


def lint(spec: Spec) -> list[Diagnostic]:
    """All lint warnings; one per (check, source position): a block used N times warns once."""
    seen: set = set()
    out = []
    for check in LINTS:
        for d in check(spec):
            key = (d.code, d.span)
            if key not in seen:
                seen.add(key)
                out.append(d)
    return out
