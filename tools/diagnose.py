"""Diagnostics at initialization: how activations and gradients behave layer by layer.

From K real batches (a training-mode pass without updates on each), per layer (per node of a graph): the mean
and variance of its output, the ratio of its output variance to its input variance (the pooled outputs of the
layers it takes: a merge's several; an Input's data), and per
weight the gradient norm and its ratio to the weight's norm. Then flags:

- vanishing / exploding gradients: the hidden layers' activation variance collapses (grows) through
  the stack, or the kernels' gradient norms shrink (grow) from the last weighted layer back to the
  first, by more than VANISHING (EXPLODING) overall — or the gradients are negligible (< 1e-4)
  next to the weights;
- saturation: the share of tanh/sigmoid units within 1% of their bounds;
- dead ReLUs: the share of ReLU units never active on any of the K batches;
- unscaled inputs: the training data's features far from unit scale, which the model does not scale
  (the rule of the ``unscaled-inputs`` lint), with the input's variance;
and what the seed's guidelines suggest for each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from tools.equiv import step_batches
from compiler.ir.graph import Graph
from compiler.ir.layers import LAYER_CLASSES
from compiler.ir.spec import Spec
from compiler.ir.values import RELU_FAMILY, SATURATING
from compiler.passes.initializers import following_activation, kernel_initializer_fields
from compiler.passes.input_scale import HINT as INPUT_SCALE_HINT, FeatureScale, scales_inputs

VANISHING = 1e-2   # first-layer / last-layer kernel gradient norm below this: vanishing
EXPLODING = 1e2    # above this: exploding
SATURATED_SHARE = 0.2
DEAD_SHARE = 0.2


@dataclass
class LayerStats:
    name: str
    kind: str
    activation: str
    mean: float
    variance: float
    variance_ratio: float | None  # output variance / input variance
    grad_norm: float | None = None  # of the kernel (or the first trainable weight)
    grad_to_weight: float | None = None
    saturated: float | None = None  # share of units near the bounds (tanh, sigmoid)
    dead: float | None = None  # share of units never active (ReLU)


@dataclass
class Diagnosis:
    layers: list[LayerStats]
    flags: list[str] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)

    def gradient_ratio(self) -> float | None:
        """Kernel gradient norm of the first weighted layer over that of the last."""
        norms = [s.grad_norm for s in self.layers if s.grad_norm]
        return norms[0] / norms[-1] if len(norms) >= 2 else None


def _activation_of(spec: Spec, index: int) -> str:
    """The activation whose outputs the layer's output statistics judge (saturation, dead ReLUs): the one the
    layer applies itself (a kernel's, an Activation layer's), else linear."""
    own = spec.layers[index].activation_fn
    return own.kind if own is not None else "linear"


def diagnose(trainer, spec: Spec, x: np.ndarray, y: np.ndarray, *, batches: int = 4, seed: int | None = None
             ) -> Diagnosis:
    """Statistics over ``batches`` batches of the shared order, with ``trainer.probe``."""
    seed = spec.training.seed if seed is None else seed
    outputs: dict[str, list[np.ndarray]] = {}
    grads: dict[str, list[np.ndarray]] = {}
    for idx in step_batches(len(x), spec.training.batch_size, seed, batches):
        out, g = trainer.probe(x[idx], y[idx])
        for k, v in out.items():
            outputs.setdefault(k, []).append(np.asarray(v, dtype=np.float64))
        for k, v in g.items():
            grads.setdefault(k, []).append(np.asarray(v, dtype=np.float64))
    weights = trainer.get_weights()
    stats = []
    graph = Graph.of(spec.layers, spec.outputs)
    values_of: dict[int, np.ndarray] = {}  # each layer's outputs over the batches, (samples, units)
    for i, layer in enumerate(spec.layers):
        if layer.name not in outputs:
            continue
        values = values_of[i] = np.concatenate([o.reshape(len(o), -1) for o in outputs[layer.name]])
        variance = float(values.var())
        input_var = _input_variance(x, layer, [values_of.get(s) for s in graph.sources[i]])
        act = _activation_of(spec, i)
        s = LayerStats(layer.name, layer.kind, act, float(values.mean()), variance,
                       variance / input_var if input_var is not None and input_var > 0 else None)
        kernel = next((k for k in (f"{layer.name}/kernel", f"{layer.name}/gamma") if k in grads), None)
        if kernel is not None:
            g = np.mean([np.linalg.norm(v) for v in grads[kernel]])
            w = float(np.linalg.norm(weights[kernel]))
            s.grad_norm = float(g)
            s.grad_to_weight = float(g / w) if w > 0 else None
        if act in SATURATING:
            low, high = (-1.0, 1.0) if act == "tanh" else (0.0, 1.0)
            margin = 0.01 * (high - low)
            s.saturated = float(((values <= low + margin) | (values >= high - margin)).mean())
        if act == "relu":
            s.dead = float((values.max(axis=0) <= 0).mean())
        stats.append(s)
    result = Diagnosis(stats)
    _flag_inputs(result, spec, x)
    _flag(result, spec)
    return result


def _input_variance(x, layer, inputs: list) -> float | None:
    """The variance of what ``layer`` takes, the denominator of its "var out/in": its inputs' outputs pooled (a
    merge's several), or for an Input its data (by its name when the model has several inputs)."""
    if layer.is_input:
        data = x[layer.name] if hasattr(x, "keys") else x
        return float(np.var(np.asarray(data, dtype=np.float64)))
    if not inputs or any(v is None for v in inputs):
        return None
    return float(np.concatenate([v.reshape(-1) for v in inputs]).var())


def _flag_inputs(result: Diagnosis, spec: Spec, x: np.ndarray) -> None:
    """Unscaled inputs, by the rule of the ``unscaled-inputs`` lint (``compiler.passes.input_scale``): features
    far from unit scale that the model does not scale itself."""
    if scales_inputs(spec):
        return
    arrays = x.items() if hasattr(x, "keys") else [(None, x)]
    for key, data in arrays:
        problem = FeatureScale.of(data).problem()
        if problem is not None:
            variance = float(np.var(np.asarray(data, dtype=np.float64)))
            which = "the input's" if key is None else f"input '{key}''s"
            result.flags.append(f"unscaled inputs: {which} variance is {variance:.3g} and its features have "
                                f"{problem}, which the model does not scale")
            if INPUT_SCALE_HINT not in result.suggestions:
                result.suggestions.append(INPUT_SCALE_HINT)


def _trend(values: list[float]) -> float | None:
    """last / first of a positive sequence (None when too short or not positive)."""
    values = [v for v in values if finite(v)]
    if len(values) < 2 or values[0] <= 0 or values[-1] <= 0:
        return None
    return values[-1] / values[0]


def _flag(result: Diagnosis, spec: Spec) -> None:
    """Vanishing: the hidden activations' variance collapses through the stack (signals die forward,
    so gradients die backward), or the kernel gradients shrink from the last weighted layer to the
    first, or they are negligible next to the weights. Exploding: the same growing."""
    weighted = [s for s in result.layers if s.grad_norm]
    hidden = [s for s in result.layers if LAYER_CLASSES[s.kind].has_kernel][:-1]
    signal = _trend([s.variance for s in hidden])
    backward = result.gradient_ratio()
    relative = float(np.median([s.grad_to_weight for s in weighted if finite(s.grad_to_weight)] or [np.nan]))
    layers = list(spec.layers)
    graph = Graph.of(layers, spec.outputs)
    acts = {following_activation(layers, i, graph).kind for i, layer in enumerate(layers) if layer.has_kernel}
    inits = {getattr(layer, f).kind for layer in spec.layers for f in kernel_initializer_fields(layer)
             if hasattr(layer, f)}
    has_bn = any(layer.normalizes_batch for layer in spec.layers)
    depth = max(len(hidden) - 1, 1)
    if (signal is not None and signal < VANISHING) or (backward is not None and backward < VANISHING) \
            or (finite(relative) and relative < 1e-4):
        parts = []
        if signal is not None and signal < VANISHING:
            parts.append(f"the activation variance falls to {signal:.1e} of the first hidden layer's over "
                         f"{len(hidden)} layers (×{signal ** (1 / depth):.2f} per layer)")
        if backward is not None and backward < VANISHING:
            parts.append(f"the first layer's kernel gradient is {backward:.1e} of the last one's")
        if finite(relative) and relative < 1e-4:
            parts.append(f"gradients are {relative:.1e} of the weights' norm (median)")
        result.flags.append("vanishing gradients: " + "; ".join(parts))
        if acts & RELU_FAMILY and not any(k.startswith("he_") for k in inits):
            result.suggestions.append("He initialization suits ReLU-family activations "
                                      "(kernel_initializer=auto or he_uniform)")
        if acts & SATURATING:
            result.suggestions.append("Glorot initialization suits tanh/sigmoid (kernel_initializer=auto or "
                                      "glorot_uniform)")
    elif (signal is not None and signal > EXPLODING) or (backward is not None and backward > EXPLODING):
        parts = []
        if signal is not None and signal > EXPLODING:
            parts.append(f"the activation variance grows to {signal:.1e} times the first hidden layer's "
                         f"(×{signal ** (1 / depth):.2f} per layer)")
        if backward is not None and backward > EXPLODING:
            parts.append(f"the first layer's kernel gradient is {backward:.1e} times the last one's")
        result.flags.append("exploding gradients: " + "; ".join(parts))
        result.suggestions.append("a smaller initialization scale (Glorot for tanh/sigmoid, He for ReLU), "
                                  "gradient clipping (clip_norm) or BatchNormalization")
    saturated = [s for s in result.layers if s.saturated is not None and s.saturated > SATURATED_SHARE]
    if saturated:
        worst = max(saturated, key=lambda s: s.saturated)
        result.flags.append(f"saturation: {len(saturated)} {worst.activation} layer(s) have more than "
                            f"{SATURATED_SHARE:.0%} of their units near the bounds (worst: '{worst.name}', "
                            f"{worst.saturated:.0%})")
        result.suggestions.append("a non-saturating activation (relu, leaky_relu, gelu), or Glorot initialization "
                                  "for tanh/sigmoid")
    dead = [s for s in result.layers if s.dead is not None and s.dead > DEAD_SHARE]
    if dead:
        worst = max(dead, key=lambda s: s.dead)
        result.flags.append(f"dead ReLUs: {len(dead)} layer(s) have more than {DEAD_SHARE:.0%} of their units never "
                            f"active (worst: '{worst.name}', {worst.dead:.0%})")
        result.suggestions.append("leaky_relu or elu, He initialization, or a smaller learning rate")
    if result.flags and not has_bn and len(hidden) > 3:
        result.suggestions.append("BatchNormalization between layers keeps activation variances steady")


def with_initializer(spec: Spec, kind: str, **params) -> Spec:
    """The spec with every kernel initializer replaced by ``kind`` (for ``--compare-init``)."""
    from compiler.ir.values import RandomNormal, VarianceScaling

    init = RandomNormal(kind="random_normal", **params) if kind == "random_normal" else VarianceScaling(kind=kind)
    layers = tuple(layer.model_copy(update={f: init for f in kernel_initializer_fields(layer) if hasattr(layer, f)})
                   for layer in spec.layers)
    return spec.model_copy(update={"layers": layers})


ALTERNATIVES = {"as written": None, "glorot_uniform": ("glorot_uniform", {}), "he_uniform": ("he_uniform", {}),
                "lecun_normal": ("lecun_normal", {}), "random_normal(0, 1)": ("random_normal", {"stddev": 1.0})}


def finite(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


def tracked(d: Diagnosis) -> dict[str, float]:
    """The statistics ``nnspec train --track`` adds to each epoch's history entry."""
    out: dict[str, float] = {}
    for s in d.layers:
        if LAYER_CLASSES[s.kind].is_input:
            continue
        out[f"activation_variance/{s.name}"] = s.variance
        if s.grad_norm is not None:
            out[f"gradient_norm/{s.name}"] = s.grad_norm
    return out

