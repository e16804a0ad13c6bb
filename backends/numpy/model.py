"""A compiled spec as a NumPy network: forward, loss, and backpropagation through every step.

The network is a list of steps. A Dense or Conv2D with an activation is two steps (its linear
part, then the activation), so that the output softmax (or sigmoid) can be fused with a
cross-entropy as Keras does (``compiler.semantics.losses``): the loss is then computed from that
step's input, the logits, exactly; the steps after it (a linear Activation, a dropout at rate 0 or at
inference) pass the values through.

Total loss = data loss + Σ kernel/bias penalties + Σ activity penalties / batch size.
Backpropagation runs the steps in reverse, adding each activity penalty's gradient where
its layer's output is. It stops at the first step with weights: nothing before it has gradients,
so that step is told (``Context.input_grad``) that the gradient of its input is not needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np

from backends.numpy import layers as numpy_layers
from backends.numpy.activations import activate
from backends.numpy.layers import Context
from backends.numpy.losses import loss_and_grad
from compiler.semantics.penalties import penalty, penalty_grad
from compiler.ir.spec import Spec
from compiler.semantics.losses import loss_input
from compiler.ir.values import Regularizer
from compiler.weights import weight_specs


@dataclass
class Step:
    """One operation: a layer's own formula, or the activation after a Dense/Conv2D."""

    layer: str
    run: Callable[[np.ndarray, Context], tuple[np.ndarray, Callable]]
    activation: str | None = None  # the activation kind, for activation steps
    activity_regularizer: Regularizer | None = None  # on the layer's final step only
    has_weights: bool = False  # its backprop returns gradients (kernel, bias, gamma, beta, ...)


@dataclass
class Pass:
    """What one forward pass produced, and what its backward pass needs."""

    output: np.ndarray  # the model's output (probabilities when the final activation is fused)
    loss_input: np.ndarray  # what the loss sees (logits when fused)
    logits: bool
    backprops: list = field(default_factory=list)
    activity: list = field(default_factory=list)  # (step index, regularizer, output)
    activity_penalty: float = 0.0


class NumpyModel:
    """The reference implementation of a spec. ``params`` maps "layer/weight" to arrays."""

    def __init__(self, spec: Spec, params: dict[str, np.ndarray]):
        self.spec = spec
        self.params = params
        self.weights = weight_specs(spec)
        self.trainable = [w.name for w in self.weights if w.trainable]
        self.regularized = [(w.name, w.regularizer) for w in self.weights if w.regularizer is not None]
        self.steps = self._steps()
        # the first step whose backprop returns gradients; backpropagation ends there
        self.grad_start = next((i for i, s in enumerate(self.steps) if s.has_weights), None)
        fused_at = loss_input(spec).fused_at
        # the step whose input the loss reads (the fused activation's step), or None
        self.fused_step = None if fused_at is None else max(
            i for i, s in enumerate(self.steps) if s.layer == spec.layers[fused_at].name)
        self.fused = self.fused_step is not None

    def _layer_params(self, name: str) -> tuple[dict, dict]:
        """The layer's trainable weights (its ``params``) and its non-trainable ones (its ``state``:
        BatchNormalization's moving statistics, Normalization's adapted ones), keyed by weight name."""
        params, state = {}, {}
        for w in self.weights:
            if w.layer == name and w.name in self.params:
                (params if w.trainable else state)[w.name.split("/", 1)[1]] = self.params[w.name]
        return params, state

    def _steps(self) -> list[Step]:
        steps = []
        for layer in self.spec.layers:
            forward = numpy_layers.LAYERS[layer.kind]
            params, state = self._layer_params(layer.name)

            def run(x, ctx, layer=layer, forward=forward, params=params, state=state):
                return forward(layer, params, state, x, ctx)

            steps.append(Step(layer.name, run, layer.activation.kind if layer.is_activation else None,
                              has_weights=bool(params)))
            act = layer.activation_fn
            if layer.has_kernel and act.kind != "linear":
                def run_act(x, ctx, act=act):
                    y, back = activate(act, x)
                    return y, lambda dy: (back(dy), {})

                steps.append(Step(layer.name, run_act, act.kind))
            reg = getattr(layer, "activity_regularizer", None)
            if reg is not None:
                steps[-1].activity_regularizer = reg
        return steps

    # ---- forward -------------------------------------------------------------------
    def forward(self, x: np.ndarray, ctx: Context,
                record: dict[str, np.ndarray] | None = None) -> Pass:
        """Run every step; with a fused final activation the loss input is its input (the logits).

        ``record``, when given, receives each layer's output (after its activation) by layer name.
        """
        backprops, activity = [], []
        activity_penalty = 0.0
        loss_input = None
        for i, step in enumerate(self.steps):
            if i == self.fused_step:
                loss_input = x
            x, back = step.run(x, replace(ctx, input_grad=False) if i == self.grad_start else ctx)
            backprops.append(back)
            if record is not None:
                record[step.layer] = x
            if step.activity_regularizer is not None:
                activity.append((i, step.activity_regularizer, x))
                activity_penalty += penalty(step.activity_regularizer, x) / x.shape[0]
        return Pass(x, x if loss_input is None else loss_input, self.fused or self._from_logits(),
                    backprops, activity, activity_penalty)

    def _from_logits(self) -> bool:
        return bool(self.spec.training and self.spec.training.loss.from_logits)

    def predict(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Outputs in inference mode (probabilities where the model ends in softmax/sigmoid)."""
        ctx = Context(training=False)
        return np.concatenate([self.forward(x[i:i + batch_size], ctx).output
                               for i in range(0, len(x), batch_size)]) if len(x) else x

    def weight_penalty(self) -> float:
        return sum(penalty(reg, self.params[name]) for name, reg in self.regularized)

    # ---- loss and gradients -------------------------------------------------------------
    def loss_and_grads(self, x: np.ndarray, y: np.ndarray, ctx: Context) -> tuple[float, dict[str, np.ndarray], Pass]:
        """Total loss (data + penalties) and its gradient for every trainable weight."""
        fp = self.forward(x, ctx)
        data_loss, dloss = loss_and_grad(self.spec.training.loss, fp.loss_input, y, fp.logits)
        total = data_loss + self.weight_penalty() + fp.activity_penalty
        grads = self.backward(fp, dloss)
        return total, grads, fp

    def backward(self, fp: Pass, dloss: np.ndarray) -> dict[str, np.ndarray]:
        """Backpropagate d loss / d (loss input) through the steps; add the penalties' gradients."""
        activity = {i: (reg, out) for i, reg, out in fp.activity}
        grads: dict[str, np.ndarray] = {}
        last = len(self.steps) - 1
        dy = None if self.fused else dloss  # the loss reads no step after the fused one
        for i in range(last, (self.grad_start or 0) - 1, -1):  # earlier steps have no gradients
            step = self.steps[i]
            if i in activity:
                reg, out = activity[i]
                extra = penalty_grad(reg, out) / out.shape[0]
                dy = extra if dy is None else dy + extra
            if dy is None:  # nothing flows into this step's output
                if i == self.fused_step:  # the loss's gradient is that of this step's input
                    dy = dloss
                continue
            dy, layer_grads = fp.backprops[i](dy)
            if i == self.fused_step:
                dy = dy + dloss
            for key, g in layer_grads.items():
                name = f"{step.layer}/{key}"
                grads[name] = grads[name] + g if name in grads else g
        for name, reg in self.regularized:
            grads[name] = grads[name] + penalty_grad(reg, self.params[name])
        return grads

