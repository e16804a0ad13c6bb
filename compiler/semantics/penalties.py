"""Penalties exactly as Keras defines them: R(w) = l1·Σ|w| + l2·Σw², dR/dw = l1·sign(w) + 2·l2·w.

An activity regularizer on a layer's output y adds R(y)/batch_size (Keras 3 divides by the
batch size) and sends dR/dy / batch_size back into the layer's output gradient.
"""

from __future__ import annotations

import numpy as np

from compiler.ir.values import Regularizer


def penalty(reg: Regularizer, w: np.ndarray) -> float:
    """l1·Σ|w| + l2·Σw²."""
    value = 0.0
    if reg.l1:
        value += reg.l1 * float(np.abs(w).sum())
    if reg.l2:
        value += reg.l2 * float((w * w).sum())
    return value


def penalty_grad(reg: Regularizer, w: np.ndarray) -> np.ndarray:
    """l1·sign(w) + 2·l2·w."""
    grad = np.zeros_like(w)
    if reg.l1:
        grad += reg.l1 * np.sign(w)
    if reg.l2:
        grad += (2 * reg.l2) * w
    return grad
