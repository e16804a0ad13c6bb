"""Penalties exactly as Keras defines them: R(w) = l1·Σ|w| + l2·Σw², dR/dw = l1·sign(w) + 2·l2·w.

An activity regularizer on a layer's output y adds R(y)/batch_size (Keras 3 divides by the
batch size) and sends dR/dy / batch_size back into the layer's output gradient.

``l1_l2`` is the formula over an array namespace ``xp`` (numpy, torch, keras.ops: ``abs`` and ``sum``):
the PyTorch and Keras backends call it on their tensors and the PyTorch emitter copies its source.
"""

from __future__ import annotations

import numpy as np

from compiler.ir.values import Regularizer


def l1_l2(xp, w, l1=0.0, l2=0.0):
    """A regularizer's penalty as Keras defines it: l1·Σ|w| + l2·Σw², without ½ (0.0 when both are 0)."""
    value = 0.0
    if l1:
        value = value + l1 * xp.sum(xp.abs(w))
    if l2:
        value = value + l2 * xp.sum(w * w)
    return value


class _FloatSums:
    """numpy whose sums are Python floats: the NumPy reference's penalty is a float64 number whatever the
    weights' dtype."""

    abs = staticmethod(np.abs)

    @staticmethod
    def sum(a) -> float:
        return float(a.sum())


def penalty(reg: Regularizer, w: np.ndarray) -> float:
    """l1·Σ|w| + l2·Σw² (``l1_l2``), a Python float."""
    return l1_l2(_FloatSums, w, reg.l1, reg.l2)


def penalty_grad(reg: Regularizer, w: np.ndarray) -> np.ndarray:
    """l1·sign(w) + 2·l2·w."""
    grad = np.zeros_like(w)
    if reg.l1:
        grad += reg.l1 * np.sign(w)
    if reg.l2:
        grad += (2 * reg.l2) * w
    return grad
