"""The formulas of ``compiler.semantics.losses`` with their gradients written out:
``loss_and_grad(loss, out, y, logits) -> (mean loss, d loss / d out)``.

The reduction is Keras' "sum_over_batch_size": the mean of the per-position loss, a position being a sample
of an (N, C) output and a pixel of a per-pixel (N, H, W, C) one (the cross-entropies reduce the last axis only).
``logits=True`` means ``out`` are logits: either the spec says ``from_logits=true``, or the loss reads
the input of the model's output softmax/sigmoid (the fusion rule of ``compiler.semantics.losses``), so
nothing is clipped. From probabilities Keras clips to [ε, 1 − ε] (``EPSILON``; the gradient is 0 outside).
Each value here is the semantics' formula computed the same way (tests/test_losses.py holds them equal).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from backends.numpy.activations import _sigmoid, softmax_values
from compiler.ir.training import Loss
from compiler.semantics.losses import EPSILON

LossFn = Callable[[np.ndarray, np.ndarray, bool], tuple[float, np.ndarray]]
LOSSES: dict[str, LossFn] = {}


def register(kind: str):
    def wrap(fn):
        LOSSES[kind] = fn
        return fn
    return wrap


def loss_and_grad(loss: Loss, out: np.ndarray, y: np.ndarray, logits: bool) -> tuple[float, np.ndarray]:
    return LOSSES[loss.kind](out, y, logits)


def _clip(p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """clip(p, ε, 1 − ε) and the mask where its gradient passes (TensorFlow: inside, bounds included)."""
    return np.clip(p, EPSILON, 1 - EPSILON), (p >= EPSILON) & (p <= 1 - EPSILON)


def _log_softmax(z: np.ndarray) -> np.ndarray:
    """z − log Σ eᶻ over the last axis (log-sum-exp, shifted by the maximum)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


@register("mse")
def mse(out, y, logits):
    """L = mean_n mean_d (out − y)²; dL/dout = 2(out − y)/(N·D)."""
    diff = out - y
    return float(np.mean(diff * diff)), diff * (2.0 / diff.size)


@register("mae")
def mae(out, y, logits):
    """L = mean_n mean_d |out − y|; dL/dout = sign(out − y)/(N·D) (0 where equal, as TensorFlow)."""
    diff = out - y
    return float(np.mean(np.abs(diff))), np.sign(diff) / diff.size


@register("binary_crossentropy")
def binary_crossentropy(out, y, logits):
    """Logits z: L = mean(max(z, 0) − z·y + log(1 + e^−|z|)), dL/dz = (σ(z) − y)/(N·D).
    Probabilities p (clipped): L = −mean(y·log p + (1 − y)·log(1 − p))."""
    n = out.size
    if logits:
        value = np.maximum(out, 0) - out * y + np.log1p(np.exp(-np.abs(out)))
        return float(value.mean()), (_sigmoid(out) - y) / n
    p, mask = _clip(out)
    value = -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return float(value.mean()), mask * (-(y / p) + (1 - y) / (1 - p)) / n


@register("categorical_crossentropy")
def categorical_crossentropy(out, y, logits):
    """Logits z: L = −mean_n Σ y·log_softmax(z), dL/dz = (softmax(z)·Σy − y)/N.
    Probabilities: q = out/Σout (Keras renormalises), p = clip(q), L = −mean_n Σ y·log p.
    n runs over the positions (N, or N·H·W for a per-pixel output): N is their count."""
    n = out.size // out.shape[-1]
    if logits:
        logp = _log_softmax(out)
        grad = softmax_values(out) * y.sum(axis=-1, keepdims=True) - y
        return float(-(y * logp).sum() / n), grad / n
    total = out.sum(axis=-1, keepdims=True)
    q = out / total
    p, mask = _clip(q)
    dq = -y / p * mask / n
    dout = (dq - (dq * q).sum(axis=-1, keepdims=True)) / total
    return float(-(y * np.log(p)).sum() / n), dout


@register("sparse_categorical_crossentropy")
def sparse_categorical_crossentropy(out, y, logits):
    """Integer labels y. Logits z: L = −mean_n log_softmax(z)[y], dL/dz = (softmax(z) − onehot(y))/N.
    Probabilities p: Keras feeds log(clip(p)) to the same formula, i.e. L = −log p_y + log Σ p.
    n runs over the positions (N, or N·H·W for a per-pixel output with a label per pixel): N is their count;
    the rows below are the positions, the output seen as (N, C)."""
    shape = out.shape
    out = out.reshape(-1, shape[-1])
    n = len(out)
    rows = np.arange(n)
    labels = y.reshape(-1).astype(np.int64)
    if logits:
        grad = softmax_values(out)
        value = -_log_softmax(out)[rows, labels].sum() / n
        grad[rows, labels] -= 1
        return float(value), (grad / n).reshape(shape)
    p, mask = _clip(out)
    logp = np.log(p)
    dlogp = softmax_values(logp)
    value = -_log_softmax(logp)[rows, labels].sum() / n
    dlogp[rows, labels] -= 1
    return float(value), (dlogp / p * mask / n).reshape(shape)
