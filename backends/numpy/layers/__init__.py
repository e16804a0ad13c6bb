"""NumPy layers: ``forward(layer, params, state, x, ctx) -> (y, backprop)``, one file per kind.

``backprop(dy) -> (dx, grads)`` with ``grads`` keyed like ``params`` ("kernel", "bias", ...).
When ``ctx.input_grad`` is false nobody needs dx (the first layer with weights: only the weights'
gradients are wanted), and a layer may return ``None`` for it instead of computing it.
Activations of Dense/Conv2D are separate steps (see ``backends.numpy.model``), so each layer
here is only its own formula. ``state`` holds non-trainable weights (BatchNormalization's
moving statistics), updated in place when training.
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
LAYERS: dict[str, Forward] = {}


def register(kind: str):
    def wrap(fn: Forward) -> Forward:
        LAYERS[kind] = fn
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
