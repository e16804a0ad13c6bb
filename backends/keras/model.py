"""A compiled spec as a Keras functional model, built through the lowering table.

``build_network`` walks the graph (``compiler.ir.graph``) in the order of ``Spec.layers`` — every layer after
its inputs — and applies each IR layer's Keras layer (``LOWERINGS``, ``backends.keras.layers``) to the
symbolic outputs of its inputs: one tensor for most kinds, the list of them, in order, for a merge layer. A
stack is the graph where each layer takes the one before it, so it is built by the same walk.

When an output's softmax/sigmoid is fused with the loss (``compiler.semantics.losses.loss_input``: the
activation a ``from_logits=false`` cross-entropy undoes, possibly followed by layers that pass the values
through) that layer is lowered without its activation and a ``LogitsHead`` follows, so the network outputs
logits there. The layers from there to the output carry those logits; a layer elsewhere in the graph that takes
one of their values (the probabilities feeding another branch) takes them through ``Probabilities``, the head's
softmax/sigmoid, so it sees what the spec says it sees. Under a mixed policy the ``LogitsHead`` and an output ``Activation`` layer compute in float32
(Keras' advice for the output's activation; ``backends.keras.layers``).

The model is a plain functional ``keras.Model``: one input and one output as tensors (a stack, and every
one-input one-output graph), otherwise ``inputs`` are the Input layers in the order of ``Spec.layers`` and
``outputs`` the layers of ``Spec.output_names``, in that order, as lists. Its training step is the trainer's
(``backends.keras.trainer``), driven by the shared loop.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from backends.keras.layers import LOWERINGS, LogitsHead, LowerContext, MaskedDropout
from compiler.ir.graph import Graph
from compiler.ir.names import root_scope_name
from compiler.ir.spec import Spec
from compiler.semantics.losses import loss_input, output_path
from compiler.semantics.outputs import heads
from compiler.ir.values import ActivationFn


@dataclass
class Built:
    """The lowered network and what the trainer needs to know about it."""

    model: keras.Model
    keras_layers: dict[str, list]  # IR layer name -> its Keras layers, in order
    outputs: dict[str, object]  # IR layer name -> the symbolic output of its last Keras layer
    heads: tuple[LogitsHead | None, ...]  # per model output: its LogitsHead when its activation is fused
    dropouts: list[tuple[object, MaskedDropout]]  # (IR layer, layer) in canonical mode
    logit_layers: tuple[tuple[str, ...], ...] = ()  # per model output: the layers that output logits here

    @property
    def head(self) -> LogitsHead | None:
        """The first output's ``LogitsHead`` (the one the single-output loss reads), or None."""
        return self.heads[0] if self.heads else None


class Probabilities(keras.layers.Layer):
    """A fused output's probabilities (``LogitsHead.probabilities`` of its logits), for a layer off the path
    from the fused activation to the output."""

    def __init__(self, head: LogitsHead, **kwargs):
        super().__init__(**kwargs)
        self.head = head

    def call(self, logits):
        return self.head.probabilities(logits)

    def compute_output_shape(self, input_shape):
        return input_shape


def _unique(name: str, taken: set[str]) -> str:
    out, i = name, 1
    while out in taken:
        out, i = f"{name}_{i}", i + 1
    return out


def fused_layers(spec: Spec) -> tuple[int | None, ...]:
    """Per model output (``Spec.output_names``): the index of the layer whose final activation that output's
    loss undoes (``compiler.semantics.losses.loss_input`` with the output's loss, ``compiler.semantics.outputs``),
    None where the loss reads the output as it is (and everywhere without a train section)."""
    found = heads(spec)
    if not found:
        return (None,) * len(spec.output_names)
    return tuple(loss_input(spec, head.layer, head.loss).fused_at for head in found)


def logit_layers(spec: Spec, graph: Graph, fused: tuple[int | None, ...]) -> tuple[tuple[str, ...], ...]:
    """Per output: the names of the layers from its fused activation to the output (the path the logits take
    instead of the probabilities in the Keras model), empty where nothing is fused."""
    out = []
    for output, at in zip(graph.outputs, fused):
        if at is None:
            out.append(())
            continue
        path = output_path(spec.layers, output)
        out.append(tuple(spec.layers[i].name for i in path[:path.index(at) + 1]))
    return tuple(out)


def build_network(spec: Spec, ctx: LowerContext) -> Built:
    graph = Graph.of(spec.layers, spec.output_names)
    fused = fused_layers(spec)
    fused_by_index = {at: k for k, at in enumerate(fused) if at is not None}
    heads: list[LogitsHead | None] = [None] * len(fused)
    taken = {layer.name for layer in spec.layers}
    keras_layers: dict[str, list] = {}
    values: list = [None] * len(spec.layers)  # layer i -> the symbolic output of its last Keras layer
    dropouts = []
    outputs_at = set(graph.outputs)
    paths = logit_layers(spec, graph, fused)
    on_path = {name: k for k, names in enumerate(paths) for name in names}  # layer -> the output it carries logits to
    probabilities: dict[int, object] = {}  # layer on a logit path -> its value as probabilities

    def taken_by(i: int, s: int):
        """Layer s's value as layer i takes it: logits along the same logit path, probabilities elsewhere."""
        k = on_path.get(spec.layers[s].name)
        if k is None or on_path.get(spec.layers[i].name) == k:
            return values[s]
        if s not in probabilities:
            name = _unique(f"{spec.layers[s].name}_probabilities", taken)
            taken.add(name)
            probabilities[s] = Probabilities(heads[k], name=name, dtype=ctx.dtype)(values[s])
        return probabilities[s]

    for i, layer in enumerate(spec.layers):
        if i in fused_by_index:
            if layer.is_activation:
                head = LogitsHead(layer.activation.kind, name=layer.name, dtype=ctx.dtype)
                lowered = [head]
            else:
                linear = layer.model_copy(update={"activation": ActivationFn(kind="linear"),
                                                  "activity_regularizer": None})
                head = LogitsHead(layer.activation.kind, ctx.regularizer(layer.activity_regularizer),
                                  name=_unique(f"{layer.name}_{layer.activation.kind}", taken), dtype=ctx.dtype)
                taken.add(head.name)
                lowered = [LOWERINGS[layer.kind](linear, ctx), head]
            heads[fused_by_index[i]] = head
        elif i in outputs_at and layer.is_activation:  # an output's activation in float32
            lowered = [LOWERINGS[layer.kind](layer, ctx.full_precision())]
        else:
            lowered = [LOWERINGS[layer.kind](layer, ctx)]
        sources = [taken_by(i, s) for s in graph.sources[i]]
        x = sources if layer.is_merge else (sources[0] if sources else None)
        for k in lowered:
            x = k.output if isinstance(k, keras.layers.InputLayer) else k(x)
            if isinstance(k, MaskedDropout):
                dropouts.append((layer, k))
        keras_layers[layer.name] = lowered
        values[i] = x
    inputs = [values[i] for i in graph.inputs]
    outputs = [values[i] for i in graph.outputs]
    model = keras.Model(inputs=inputs[0] if len(inputs) == 1 else inputs,
                        outputs=outputs[0] if len(outputs) == 1 else outputs,
                        name=root_scope_name(spec.name))  # TF refuses a leading _ there
    return Built(model, keras_layers, {layer.name: v for layer, v in zip(spec.layers, values)}, tuple(heads),
                 dropouts, paths)
