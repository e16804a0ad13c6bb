"""A compiled spec as a torch network: the lowered steps run as a stack or as a graph program, the fused
output(s), the weight table.

As in the NumPy reference (``backends.numpy.model``), a Dense or Conv2D with an activation is two
steps (its own formula, then the activation), so that a final softmax (or sigmoid) can be fused
with a ``from_logits=false`` cross-entropy exactly as Keras' ``_get_logits`` does: the loss then
sees the logits, and the model's output is still the probabilities.

Weights: ``WeightEntry`` maps each ``"layer/weight"`` of ``compiler.weights.weight_specs`` (Keras
layouts) to the torch tensor that holds it and the layout conversion between the two.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from backends.torch.layers import CONV_KERNEL, DENSE_KERNEL, Activation, RunContext, is_image, lower
from compiler.ir.graph import Graph
from compiler.ir.spec import Spec
from compiler.semantics.losses import loss_input
from compiler.semantics.outputs import heads as output_heads
from compiler.semantics.penalties import l1_l2
from compiler.ir.values import Regularizer
from compiler.weights import weight_specs


# Keras layout -> torch layout, and back (NumPy arrays or torch tensors)
TO_TORCH = {DENSE_KERNEL: (1, 0), CONV_KERNEL: (3, 2, 0, 1)}   # (in, out) -> (out, in); (kh,kw,in,out) -> (out,in,kh,kw)
TO_KERAS = {DENSE_KERNEL: (1, 0), CONV_KERNEL: (2, 3, 1, 0)}


@dataclass
class WeightEntry:
    name: str  # "layer/weight"
    layer: str
    module: nn.Module
    attr: str  # the module's Parameter or buffer that holds it
    layout: str  # layers.SAME, DENSE_KERNEL or CONV_KERNEL
    trainable: bool
    regularizer: Regularizer | None

    @property
    def tensor(self) -> torch.Tensor:
        """Looked up each time: ``Module.to`` replaces buffers (not Parameters) with new tensors."""
        return getattr(self.module, self.attr)

    def keras_shape(self) -> tuple[int, ...]:
        shape = tuple(self.tensor.shape)
        perm = TO_KERAS.get(self.layout)
        return shape if perm is None else tuple(shape[i] for i in perm)

    def to_keras(self, t):
        perm = TO_KERAS.get(self.layout)
        if perm is None:
            return t
        return t.permute(*perm) if isinstance(t, torch.Tensor) else t.transpose(perm)

    def to_torch(self, a):
        perm = TO_TORCH.get(self.layout)
        if perm is None:
            return a
        return a.permute(*perm) if isinstance(a, torch.Tensor) else a.transpose(perm)


# how a step of the graph program takes its argument
FROM_INPUT, FROM_STEP, FROM_STEPS = 0, 1, 2


class TorchModel(nn.Module):
    """The lowered steps of ``spec``; ``forward(x)`` -> (first output, what its loss reads, activity penalty or
    None); ``run(x)`` -> (every output, what each output's loss reads, penalty), in the order of ``Spec.outputs``.

    A stack runs its steps in a loop, each taking the one before (as fast as a hand-written ``nn.Sequential``).
    A graph runs a flat program precomputed here: ``program[i] = (module, how, source)`` over a list of values,
    one per step — ``how`` says whether the step takes the model input number ``source``, the value of step
    ``source``, or (a merge) the list of the values of the steps ``source`` — so the hot path is list indexing,
    no dictionary lookup and no name. Activity penalties are summed after the pass from the values they read.
    """

    def __init__(self, spec: Spec, ctx: RunContext):
        super().__init__()
        self.ctx = ctx
        self.steps = nn.ModuleList()
        self.step_layers: list[str] = []  # the layer each step belongs to
        self.activity: list[Regularizer | None] = []  # on a layer's final step only
        graph = Graph.of(spec.layers, spec.outputs)
        self.input_names = [spec.layers[i].name for i in graph.inputs]
        by_layer: dict[str, nn.Module] = {}
        last: list[int] = []  # each layer's final step
        program = []
        for i, layer in enumerate(spec.layers):
            module = lower(layer, ctx)
            by_layer[layer.name] = module
            sources = [last[s] for s in graph.sources[i]]
            if layer.is_input:
                program.append((module, FROM_INPUT, graph.inputs.index(i)))
            elif layer.is_merge:
                program.append((module, FROM_STEPS, tuple(sources)))
            else:
                program.append((module, FROM_STEP, sources[0]))
            self._add(layer.name, module)
            act = layer.activation_fn
            if layer.has_kernel and act.kind != "linear":
                module = Activation(act, is_image(layer.output_shape))
                program.append((module, FROM_STEP, len(self.steps) - 1))
                self._add(layer.name, module)
            reg = getattr(layer, "activity_regularizer", None)
            if reg is not None:
                self.activity[-1] = reg
            last.append(len(self.steps) - 1)
        self.program = program
        self.last_step = last
        self.is_stack = graph.is_stack
        self.activity_steps = [(i, r) for i, r in enumerate(self.activity) if r is not None]
        self.has_activity = bool(self.activity_steps)
        # one head per output: its final step, the step whose value its loss reads, whether it is an image
        losses = {h.index: h.loss for h in output_heads(spec)}  # each output's loss (compiler.semantics.outputs)
        self.heads: list[tuple[int, int, bool]] = []
        fused = []
        for k, index in enumerate(graph.outputs):
            loss = losses.get(k)
            reads = loss_input(spec, index, loss) if loss is not None else None
            fused.append(reads.fused_at if reads is not None and reads.fused else None)
            out = last[index]
            # fused: the loss reads the input of the fused layer's final step (its activation)
            read_step = program[last[fused[-1]]][2] if fused[-1] is not None else out
            self.heads.append((out, read_step, is_image(spec.layers[index].output_shape)))
        self.fused = fused[0] is not None  # the first output's (the stack path's)
        self.fused_at = last[fused[0]] if self.fused else -1
        self.image_output = self.heads[0][2]
        self.entries: list[WeightEntry] = []
        for w in weight_specs(spec):
            module = by_layer[w.layer]
            attr, layout = module.KERAS_WEIGHTS[w.name.split("/", 1)[1]]
            self.entries.append(WeightEntry(w.name, w.layer, module, attr, layout, w.trainable, w.regularizer))

    def _add(self, layer: str, module: nn.Module) -> None:
        self.steps.append(module)
        self.step_layers.append(layer)
        self.activity.append(None)

    def forward(self, x):
        """(first output, what its loss reads, activity penalty or None); ``x`` a tensor, or one per Input."""
        if not self.is_stack:
            outputs, loss_inputs, penalty = self.run(x)
            return outputs[0], loss_inputs[0], penalty
        if isinstance(x, (list, tuple)):
            (x,) = x
        fused_at = self.fused_at
        loss_input = None
        penalty = None
        if self.has_activity:
            for i, (step, reg) in enumerate(zip(self.steps, self.activity)):
                if i == fused_at:
                    loss_input = x
                x = step(x)
                if reg is not None:
                    p = activity_penalty(reg, x)
                    penalty = p if penalty is None else penalty + p
        else:
            for i, step in enumerate(self.steps):
                if i == fused_at:  # the loss takes the logits: the probabilities need no graph
                    loss_input = x
                    with torch.no_grad():
                        x = step(x)
                else:
                    x = step(x)
        if loss_input is None:
            loss_input = x
        if self.image_output:  # back to Keras' layout
            x, loss_input = _to_nhwc(x), _to_nhwc(loss_input)
        return x, loss_input, penalty

    def _values(self, x) -> list:
        """Every step's value, running the program (see the class docstring)."""
        inputs = x if isinstance(x, (list, tuple)) else (x,)
        values: list = [None] * len(self.program)
        for i, (module, how, source) in enumerate(self.program):
            if how == FROM_STEP:
                values[i] = module(values[source])
            elif how == FROM_STEPS:
                values[i] = module([values[s] for s in source])
            else:
                values[i] = module(inputs[source])
        return values

    def run(self, x):
        """(outputs, what each output's loss reads, activity penalty or None), one per ``Spec.outputs``, in
        Keras' layout; ``x`` a tensor, or a sequence of tensors in the order of the Input layers."""
        values = self._values(x)
        penalty = None
        for i, reg in self.activity_steps:
            p = activity_penalty(reg, values[i])
            penalty = p if penalty is None else penalty + p
        outputs, loss_inputs = [], []
        for out, reads, image in self.heads:
            y, z = values[out], values[reads]
            outputs.append(_to_nhwc(y) if image else y)
            loss_inputs.append(_to_nhwc(z) if z.dim() == 4 else z)
        return tuple(outputs), tuple(loss_inputs), penalty

    def trace(self, x, *, record: dict | None = None) -> None:
        """Run every step; ``record[layer]`` receives each layer's final output (NHWC, as NumPy)."""
        values = self._values(x)
        if record is not None:
            for layer, value in zip(self.step_layers, values):
                record[layer] = _to_nhwc(value) if value.dim() == 4 else value

    def weight_penalty(self):
        """Σ over regularized weights of l1·Σ|w| + l2·Σw² (a tensor), or None without regularizers."""
        total = None
        for e in self.entries:
            if e.regularizer is not None:
                p = regularizer_penalty(e.regularizer, e.tensor)
                total = p if total is None else total + p
        return total


def _to_nhwc(x: torch.Tensor) -> torch.Tensor:
    return x.permute(0, 2, 3, 1) if x.dim() == 4 else x


def regularizer_penalty(reg: Regularizer, w: torch.Tensor):
    """l1·Σ|w| + l2·Σw² (``compiler.semantics.penalties.l1_l2``), a tensor."""
    value = l1_l2(torch, w, reg.l1, reg.l2)
    return value if isinstance(value, torch.Tensor) else w.new_zeros(())


def activity_penalty(reg: Regularizer, y: torch.Tensor):
    """R(y) / batch size (Keras 3)."""
    return regularizer_penalty(reg, y) / y.shape[0]


def numpy_dtype(dtype) -> np.dtype:
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"the torch backend trains in float32 or float64, not {dtype}")
    return dtype


def torch_dtype(dtype) -> torch.dtype:
    return {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}[numpy_dtype(dtype)]
