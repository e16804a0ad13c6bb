"""A compiled spec as a NumPy network: forward over the graph, loss per output, backpropagation.

**Steps.** The network is a list of steps in the spec's order (each after its inputs). A Dense or Conv2D
with an activation is two steps (its linear part, then the activation), so that an output softmax (or
sigmoid) can be fused with a cross-entropy as Keras does (``compiler.semantics.losses``). Each step names
the steps whose values it takes (``sources``): a layer's first step takes the last steps of the layers in
its ``inputs``; an Input step takes one of the model's inputs; a merge takes a list of values.

**Forward.** One pass in order: ``values[i]`` is step i's output, kept until its last consumer has run
(``release``), and ``backprops[i]`` its backward function. Each model output is a *head*: the step whose value
the model outputs, and the step whose value its loss reads — the same one, or with a fused softmax/sigmoid the
activation's input, the logits (the steps after it — a linear Activation, a dropout at rate 0 or at inference
— pass the values through).

**Backward.** One pass in reverse: ``dys[i]`` collects d loss / d values[i] from every place values[i] went —
each consumer's backprop, a head's loss, an activity penalty — *added up*. When a value feeds two layers (the
input of a residual block feeds the body and the Add), its gradient is the sum of the two paths'. Since
every consumer of step i comes after i, dys[i] is complete when the pass reaches i; it then runs step i's
backprop and adds the result into the dys of its sources. A residual block y = x + f(x), step by step:

    dys[add]  = dL/dy                       (from whatever came after)
    Add's backprop                       -> dys[f's last step] += dy,  dys[x's step] += dy
    ... f's steps, in reverse            -> dys[x's step] += d f / dx · dy
    x's step                             -> sees dy + f'(x)·dy, the sum of both paths

A step before which no step has weights needs no input gradient (``Context.input_grad`` false), and the
backward pass skips the steps with no weights at or before them (``upstream``).

Total loss = Σ over outputs of weight · data loss (each output's own loss and ``loss_weights``,
``compiler.semantics.outputs``) + Σ kernel/bias penalties + Σ activity penalties / batch size.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from backends.numpy import layers as numpy_layers
from backends.numpy.activations import activate
from backends.numpy.layers import Context
from backends.numpy.losses import loss_and_grad
from compiler.ir.graph import Graph
from compiler.ir.spec import Spec
from compiler.ir.values import Regularizer
from compiler.semantics.losses import loss_input
from compiler.semantics.outputs import heads as output_heads
from compiler.semantics.penalties import penalty, penalty_grad
from compiler.weights import weight_specs


@dataclass
class Step:
    """One operation: a layer's own formula, or the activation after a Dense/Conv2D.

    ``sources``: the steps whose values it takes, in order (an Input's is empty: it takes the model's input
    number ``model_input``); ``merge``: it takes them as a list (a merge layer)."""

    layer: str
    run: Callable[[np.ndarray, Context], tuple[np.ndarray, Callable]]
    sources: tuple[int, ...] = ()
    merge: bool = False
    model_input: int | None = None
    activation: str | None = None  # the activation kind, for activation steps
    activity_regularizer: Regularizer | None = None  # on the layer's final step only
    has_weights: bool = False  # its backprop returns gradients (kernel, bias, gamma, beta, ...)


@dataclass
class Head:
    """One model output: ``output`` is the step whose value the model outputs, ``reads`` the step whose value
    ``loss`` reads (the fused activation's input, or ``output`` itself); ``logits`` whether that value is
    logits. ``weight`` multiplies its loss in the total."""

    name: str  # the output's key (``Spec.output_key_names``: its ``output NAME``, else its layer's name)
    output: int
    reads: int
    logits: bool
    loss: object | None  # compiler.ir.training.Loss
    weight: float = 1.0


@dataclass
class Pass:
    """What one forward pass produced, and what its backward pass needs (``outputs`` and ``loss_inputs``: one
    per head, in the order of ``Spec.outputs``)."""

    outputs: list
    loss_inputs: list
    backprops: list = field(default_factory=list)
    activity: list = field(default_factory=list)  # (step index, regularizer, output)
    activity_penalty: float = 0.0
    logits: bool = False  # the first head's
    losses: list = field(default_factory=list)  # each head's unweighted loss, once ``data_loss`` has run

    @property
    def output(self) -> np.ndarray:
        """The model's first output (probabilities when its final activation is fused)."""
        return self.outputs[0]

    @property
    def loss_input(self) -> np.ndarray:
        """What the first output's loss reads (logits when fused)."""
        return self.loss_inputs[0]


class NumpyModel:
    """The reference implementation of a spec. ``params`` maps "layer/weight" to arrays."""

    def __init__(self, spec: Spec, params: dict[str, np.ndarray]):
        self.spec = spec
        self.params = params
        self.weights = weight_specs(spec)
        self.trainable = [w.name for w in self.weights if w.trainable]
        self.regularized = [(w.name, w.regularizer) for w in self.weights if w.regularizer is not None]
        self.graph = Graph.of(spec.layers, spec.outputs)
        self.input_names = [spec.layers[i].name for i in self.graph.inputs]
        self.steps, self.last_step = self._steps()
        # upstream[i]: step i or a step before it has weights (its backprop is needed)
        self.upstream: list[bool] = []
        for step in self.steps:
            self.upstream.append(step.has_weights or any(self.upstream[s] for s in step.sources))
        self.input_grad = [any(self.upstream[s] for s in step.sources) for step in self.steps]
        self.heads = self._heads()
        self.release = self._release()
        self.fused = self.heads[0].reads != self.heads[0].output

    def _steps(self) -> tuple[list[Step], list[int]]:
        """The steps, and for each layer (by index) its last step (whose value is the layer's output)."""
        by_layer: dict[str, tuple[dict, dict]] = {}
        for w in self.weights:  # trainable weights are a layer's ``params``; the others its ``state``
            if w.name in self.params:
                params, state = by_layer.setdefault(w.layer, ({}, {}))
                (params if w.trainable else state)[w.name.split("/", 1)[1]] = self.params[w.name]
        steps: list[Step] = []
        last: list[int] = []
        for i, layer in enumerate(self.spec.layers):
            forward = numpy_layers.LAYERS[layer.kind]
            params, state = by_layer.get(layer.name, ({}, {}))

            def run(x, ctx, layer=layer, forward=forward, params=params, state=state):
                return forward(layer, params, state, x, ctx)

            sources = tuple(last[s] for s in self.graph.sources[i])
            model_input = self.graph.inputs.index(i) if layer.is_input else None
            steps.append(Step(layer.name, run, sources, layer.is_merge, model_input,
                              layer.activation.kind if layer.is_activation else None, has_weights=bool(params)))
            act = layer.activation_fn
            if layer.has_kernel and act.kind != "linear":
                def run_act(x, ctx, act=act):
                    y, back = activate(act, x)
                    return y, lambda dy: (back(dy), {})

                steps.append(Step(layer.name, run_act, (len(steps) - 1,), activation=act.kind))
            reg = getattr(layer, "activity_regularizer", None)
            if reg is not None:
                steps[-1].activity_regularizer = reg
            last.append(len(steps) - 1)
        return steps, last

    def _heads(self) -> list[Head]:
        """One head per model output: its loss and weight (``compiler.semantics.outputs``; what it reads:
        ``compiler.semantics.losses``)."""
        settings = output_heads(self.spec)
        keys = self.spec.output_key_names
        heads = []
        for k, index in enumerate(self.graph.outputs):
            loss, weight = (settings[k].loss, settings[k].weight) if settings else (None, 1.0)
            out = self.last_step[index]
            reads = loss_input(self.spec, index, loss)
            if reads.fused:  # the loss reads the input of the fused layer's final step (its activation)
                step = self.last_step[reads.fused_at]
                reads_step = self.steps[step].sources[0]
            else:
                reads_step = out
            heads.append(Head(keys[k], out, reads_step, reads.logits, loss, weight))
        return heads

    def _release(self) -> list[tuple[int, ...]]:
        """release[i]: the steps whose values nothing needs once step i has run (their last consumer is i and
        no head outputs or reads them)."""
        kept = {h.output for h in self.heads} | {h.reads for h in self.heads}
        last_use: dict[int, int] = {}
        for i, step in enumerate(self.steps):
            for s in step.sources:
                last_use[s] = i
        release: list[list[int]] = [[] for _ in self.steps]
        for s, i in last_use.items():
            if s not in kept:
                release[i].append(s)
        return [tuple(r) for r in release]

    # ---- inputs and targets ------------------------------------------------------------------------
    def model_inputs(self, x) -> tuple[np.ndarray, ...]:
        """The model's inputs in the order of its Input layers, from one array (a one-input model), a
        sequence in that order, or a mapping keyed by the Input layers' names (a dict, or the
        ``NamedArrays`` of runtime.data)."""
        if hasattr(x, "keys"):
            return tuple(x[name] for name in self.input_names)
        if isinstance(x, (list, tuple)):
            if len(x) != len(self.input_names):
                raise ValueError(f"the model has {len(self.input_names)} inputs, received {len(x)} arrays")
            return tuple(x)
        if len(self.input_names) != 1:
            raise ValueError(f"the model has {len(self.input_names)} inputs ({', '.join(self.input_names)}): "
                             "give one array for each")
        return (x,)

    def targets(self, y) -> list:
        """The targets in the order of the heads, from one array (a one-output model), a sequence in that
        order, or a mapping keyed by the output keys (a dict, or ``NamedArrays``)."""
        if hasattr(y, "keys"):
            return [y[h.name] for h in self.heads]
        if isinstance(y, (list, tuple)):
            return list(y)
        return [y]

    # ---- forward -------------------------------------------------------------------------------------
    def forward(self, x, ctx: Context, record: dict[str, np.ndarray] | None = None) -> Pass:
        """Run every step in order (see the module docstring); ``x`` as ``model_inputs`` takes it.

        ``record``, when given, receives each layer's output (after its activation) by layer name.
        """
        inputs = self.model_inputs(x)
        quiet = replace(ctx, input_grad=False)  # for the steps whose input gradient nobody needs
        values: list = [None] * len(self.steps)
        backprops, activity = [], []
        activity_penalty = 0.0
        for i, step in enumerate(self.steps):
            if step.model_input is not None:
                arg = inputs[step.model_input]
            elif step.merge:
                arg = [values[s] for s in step.sources]
            else:
                arg = values[step.sources[0]]
            y, back = step.run(arg, ctx if self.input_grad[i] else quiet)
            values[i] = y
            backprops.append(back)
            if record is not None:
                record[step.layer] = y
            if step.activity_regularizer is not None:
                activity.append((i, step.activity_regularizer, y))
                activity_penalty += penalty(step.activity_regularizer, y) / y.shape[0]
            for s in self.release[i]:
                values[s] = None
        return Pass([values[h.output] for h in self.heads], [values[h.reads] for h in self.heads],
                    backprops, activity, activity_penalty, self.heads[0].logits)

    def _from_logits(self) -> bool:
        """The first output's loss reads logits given by the model (``from_logits``)."""
        return bool(self.heads and self.heads[0].loss is not None and self.heads[0].loss.from_logits)

    def predict(self, x, batch_size: int = 1024):
        """Outputs in inference mode (probabilities where an output ends in softmax/sigmoid): one array, or
        a list of arrays (one per output) for a model of several outputs."""
        ctx = Context(training=False)
        inputs = self.model_inputs(x)
        n = len(inputs[0])
        parts = [self.forward([a[i:i + batch_size] for a in inputs], ctx).outputs for i in range(0, n, batch_size)]
        if parts:
            outs = [np.concatenate([p[k] for p in parts]) for k in range(len(self.heads))]
        else:
            outs = [inputs[0][:0] for _ in self.heads]
        return outs[0] if len(outs) == 1 else outs

    def weight_penalty(self) -> float:
        return sum(penalty(reg, self.params[name]) for name, reg in self.regularized)

    # ---- loss and gradients ----------------------------------------------------------------------------
    def data_loss(self, fp: Pass, y) -> tuple[float, list[np.ndarray]]:
        """Σ over heads of weight · loss (what each head's loss reads against its targets), and the gradient
        of that sum with respect to what each head's loss reads. Each head's unweighted loss goes to
        ``fp.losses``."""
        total, dlosses = 0.0, []
        fp.losses = []
        for head, value, target in zip(self.heads, fp.loss_inputs, self.targets(y)):
            loss, dloss = loss_and_grad(head.loss, value, target, head.logits)
            fp.losses.append(loss)
            total = total + head.weight * loss
            dlosses.append(dloss if head.weight == 1.0 else head.weight * dloss)
        return total, dlosses

    def loss_and_grads(self, x, y, ctx: Context) -> tuple[float, dict[str, np.ndarray], Pass]:
        """Total loss (data + penalties) and its gradient for every trainable weight."""
        fp = self.forward(x, ctx)
        data_loss, dlosses = self.data_loss(fp, y)
        total = data_loss + self.weight_penalty() + fp.activity_penalty
        grads = self.backward(fp, dlosses)
        return total, grads, fp

    def backward(self, fp: Pass, dlosses) -> dict[str, np.ndarray]:
        """Backpropagate each head's d loss / d (what it reads) through the graph, adding up the gradients of
        a value used in several places (see the module docstring); add the penalties' gradients."""
        if isinstance(dlosses, np.ndarray):
            dlosses = [dlosses]
        dys: list = [None] * len(self.steps)

        def add(i: int, d: np.ndarray) -> None:  # never in place: ``d`` may be another step's array too
            dys[i] = d if dys[i] is None else dys[i] + d

        for head, dloss in zip(self.heads, dlosses):
            add(head.reads, dloss)
        for i, reg, out in fp.activity:
            add(i, penalty_grad(reg, out) / out.shape[0])
        grads: dict[str, np.ndarray] = {}
        for i in range(len(self.steps) - 1, -1, -1):
            dy, dys[i] = dys[i], None
            if dy is None or not self.upstream[i]:  # nothing flows in, or nothing before it has weights
                continue
            step = self.steps[i]
            dx, layer_grads = fp.backprops[i](dy)
            for key, g in layer_grads.items():
                name = f"{step.layer}/{key}"
                grads[name] = grads[name] + g if name in grads else g
            if step.merge:
                for s, d in zip(step.sources, dx):
                    if self.upstream[s]:
                        add(s, d)
            elif step.sources and self.input_grad[i]:
                add(step.sources[0], dx)
        for name in self.trainable:  # a weight no loss reaches (it cannot happen in a checked spec)
            if name not in grads:
                grads[name] = np.zeros_like(self.params[name])
        for name, reg in self.regularized:
            grads[name] = grads[name] + penalty_grad(reg, self.params[name])
        return grads
