"""The loss formulas are stated once (``compiler.semantics.losses.FORMULAS``, over an array namespace);
the NumPy backend's hand-written losses and gradients and the PyTorch backend's losses compute the same
values, on logits and on probabilities (clipped, renormalised), and the accuracy rule is one function."""

from __future__ import annotations

import numpy as np
import pytest

from backends.numpy.losses import LOSSES as NUMPY_LOSSES
from compiler.semantics import losses, metrics
from compiler.ir.training import Loss
from frameworks import need

KINDS = sorted(losses.FORMULAS)


def batch(kind: str, logits: bool, rng):
    """(outputs, labels) for ``kind``: logits, or probabilities with values beyond the clipping bounds."""
    z = rng.normal(size=(6, 4)) * 3
    if logits or kind in ("mse", "mae"):
        out = z
    else:
        out = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
        out[0, 0], out[1, 1] = 1e-9, 1 - 1e-9  # clipped: no gradient passes
    if kind == "sparse_categorical_crossentropy":
        return out, rng.integers(0, 4, size=6)
    if kind == "categorical_crossentropy":
        return out, np.eye(4)[rng.integers(0, 4, size=6)]
    return out, (rng.random((6, 4)) > 0.5).astype(float)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_numpy_backend_computes_the_semantics_formula(kind, logits):
    out, y = batch(kind, logits, np.random.default_rng(1))
    expected = losses.FORMULAS[kind](np, out, y, logits)
    value, grad = NUMPY_LOSSES[kind](out, y, logits)
    assert value == pytest.approx(float(expected), rel=1e-13, abs=1e-15)
    # the hand-written gradient is the formula's derivative (central differences)
    h, i = 1e-6, (2, 3)
    up, down = out.copy(), out.copy()
    up[i] += h
    down[i] -= h
    numeric = (losses.FORMULAS[kind](np, up, y, logits) - losses.FORMULAS[kind](np, down, y, logits)) / (2 * h)
    assert grad[i] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_torch_backend_computes_the_semantics_formula(kind, logits):
    torch = need("torch")
    from backends.torch.losses import LOSSES as TORCH_LOSSES

    out, y = batch(kind, logits, np.random.default_rng(2))
    t_y = torch.tensor(y, dtype=torch.int64 if kind.startswith("sparse") else torch.float64)
    t_out = torch.tensor(out, dtype=torch.float64)
    expected = float(losses.FORMULAS[kind](torch, t_out, t_y, logits))
    assert float(TORCH_LOSSES[kind](t_out, t_y, logits)) == pytest.approx(expected, rel=1e-13, abs=1e-15)
    assert float(losses.FORMULAS[kind](np, out, y, logits)) == pytest.approx(expected, rel=1e-13, abs=1e-15)


@pytest.mark.parametrize("loss, units, sparse, kind", [
    ("binary_crossentropy", 3, False, "binary"),
    ("categorical_crossentropy", 1, False, "binary"),  # one unit under a cross-entropy: a threshold
    ("mse", 1, False, "categorical"),
    ("sparse_categorical_crossentropy", 3, True, "sparse"),
    ("mse", 3, True, "sparse"),
    ("categorical_crossentropy", 3, False, "categorical"),
])
def test_the_accuracy_rule(loss, units, sparse, kind):
    assert metrics.accuracy_kind(loss, units, sparse) == kind


def test_binary_accuracy_on_logits_is_the_same_decision():
    z = np.array([[-2.0], [0.5], [3.0]])
    y = np.array([[0.0], [1.0], [0.0]])
    on_logits = metrics.metric_sums("accuracy", Loss(kind="binary_crossentropy"), z, y, True)
    on_probabilities = metrics.metric_sums("accuracy", Loss(kind="binary_crossentropy"), 1 / (1 + np.exp(-z)), y, False)
    assert on_logits == on_probabilities == 2.0
