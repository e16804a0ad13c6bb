"""NumPy layers: ``forward(layer, params, state, x, ctx) -> (y, backprop)``, one file per kind.

``backprop(dy) -> (dx, grads)`` with ``grads`` keyed like ``params`` ("kernel", "bias", ...).
When ``ctx.input_grad`` is false nobody needs dx (the first layer with weights: only the weights'
gradients are wanted), and a layer may return ``None`` for it instead of computing it.
Activations of Dense/Conv2D are separate steps (see ``backends.numpy.model``), so each layer
here is only its own formula. ``state`` holds non-trainable weights (BatchNormalization's
moving statistics), updated in place when training.

A merge layer (``layer.is_merge``: Add, Subtract, Multiply, Average, Maximum, Minimum, Concatenate) takes
the list of its inputs' values, in the order of ``layer.inputs``: ``forward(layer, params, state, xs, ctx)``,
and its backprop returns the list of their gradients, ``backprop(dy) -> ([dx₁, …, dxₙ], {})`` (merges have no
weights). ``backends.numpy.model`` calls every other layer with its one input's value.

Each kind's file is the plain path, written next to its formula (``PLAIN``). A few kinds also have a
fast path in ``fast/`` (``FAST``) that gives the same numbers bit for bit, NaN and −0.0 included
(tests/test_numpy_fast_paths.py proves it); ``LAYERS`` — what the model runs — takes the fast path
where there is one.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

import numpy as np

from compiler.semantics.masks import keep_mask

Backprop = Callable[[np.ndarray], tuple[np.ndarray, dict[str, np.ndarray]]]
Forward = Callable[..., tuple[np.ndarray, Backprop]]
PLAIN: dict[str, Forward] = {}  # the reference: one plain forward per layer kind
FAST: dict[str, Forward] = {}  # bit-identical faster forwards of some kinds (fast/)


def register(kind: str):
    """Register ``kind``'s plain forward."""
    def wrap(fn: Forward) -> Forward:
        PLAIN[kind] = fn
        return fn
    return wrap


def register_fast(kind: str):
    """Register ``kind``'s fast forward: the same results as its plain one, bit for bit."""
    def wrap(fn: Forward) -> Forward:
        FAST[kind] = fn
        return fn
    return wrap


@dataclass
class Context:
    """One forward pass: training or inference, and where dropout masks come from.

    ``input_grad``: whether the backward pass needs the gradient of this layer's input.
    """

    training: bool
    seed: int = 0
    step: int = 0
    input_grad: bool = True

    def keep(self, layer: str, shape: tuple[int, ...], rate: float) -> np.ndarray:
        return keep_mask(self.seed, self.step, layer, shape, rate)


def no_grads(dy: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    return dy, {}


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

LAYERS: dict[str, Forward] = {**PLAIN, **FAST}  # what the model runs
