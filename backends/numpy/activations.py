"""Activations: ``forward(fn, z) -> (y, backprop)`` with ``backprop(dy) -> dz``, one per kind.

Each is the formula in ``compiler.ir.values.ActivationFn``; softmax is over the last axis.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from compiler.ir.values import ActivationFn

Backprop = Callable[[np.ndarray], np.ndarray]
ACTIVATIONS: dict[str, Callable[[ActivationFn, np.ndarray], tuple[np.ndarray, Backprop]]] = {}

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def register(kind: str):
    def wrap(fn):
        ACTIVATIONS[kind] = fn
        return fn
    return wrap


def activate(fn: ActivationFn, z: np.ndarray) -> tuple[np.ndarray, Backprop]:
    return ACTIVATIONS[fn.kind](fn, z)


@register("linear")
def linear(fn, z):
    """y = z; dz = dy."""
    return z, lambda dy: dy


@register("relu")
def relu(fn, z):
    """y = max(0, z); dz = dy·[z > 0]."""
    mask = z > 0
    return z * mask, lambda dy: dy * mask


@register("leaky_relu")
def leaky_relu(fn, z):
    """y = z if z > 0 else α·z; dz = dy·(1 if z > 0 else α)."""
    slope = np.where(z > 0, 1.0, fn.alpha).astype(z.dtype)
    return z * slope, lambda dy: dy * slope


@register("elu")
def elu(fn, z):
    """y = z if z > 0 else α·(eᶻ − 1); dz = dy·(1 if z > 0 else α·eᶻ)."""
    neg = fn.alpha * np.expm1(np.minimum(z, 0))
    y = np.where(z > 0, z, neg)
    return y, lambda dy: dy * np.where(z > 0, 1.0, neg + fn.alpha)


@register("gelu")
def gelu(fn, z):
    """Exact: y = z·Φ(z), dz = dy·(Φ(z) + z·φ(z)).
    Approximate: y = ½z(1 + tanh(u)), u = √(2/π)(z + 0.044715z³)."""
    if fn.approximate:
        u = _SQRT_2_OVER_PI * (z + 0.044715 * z**3)
        t = np.tanh(u)
        y = 0.5 * z * (1 + t)
        du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * z**2)
        return y, lambda dy: dy * (0.5 * (1 + t) + 0.5 * z * (1 - t * t) * du)
    from scipy.special import erf  # numpy has no erf; scipy comes with scikit-learn

    cdf = 0.5 * (1 + erf(z / math.sqrt(2)))
    pdf = np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    return z * cdf, lambda dy: dy * (cdf + z * pdf)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """σ(z) = 1/(1 + e⁻ᶻ), computed without overflow for large |z|."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


@register("sigmoid")
def sigmoid(fn, z):
    """y = σ(z); dz = dy·y(1 − y)."""
    y = _sigmoid(z)
    return y, lambda dy: dy * y * (1 - y)


@register("silu")
def silu(fn, z):
    """y = z·σ(z); dz = dy·(σ + z·σ(1 − σ))."""
    s = _sigmoid(z)
    return z * s, lambda dy: dy * (s + z * s * (1 - s))


@register("tanh")
def tanh(fn, z):
    """y = tanh z; dz = dy·(1 − y²)."""
    y = np.tanh(z)
    return y, lambda dy: dy * (1 - y * y)


def softmax_values(z: np.ndarray) -> np.ndarray:
    """eᶻⁱ / Σⱼ eᶻʲ over the last axis, shifted by the maximum for stability."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@register("softmax")
def softmax(fn, z):
    """y = softmax(z); dz = y·(dy − Σ dy·y)."""
    y = softmax_values(z)
    return y, lambda dy: y * (dy - (dy * y).sum(axis=-1, keepdims=True))
