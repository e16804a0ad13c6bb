"""The loss formulas are stated once (``compiler.semantics.losses.formula``, over an array namespace);
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


def formula(xp, kind, out, y, logits):
    return losses.loss_value(xp, kind, out, y, logits)


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
    expected = formula(np, kind, out, y, logits)
    value, grad = NUMPY_LOSSES[kind](out, y, logits)
    assert value == pytest.approx(float(expected), rel=1e-13, abs=1e-15)
    # the hand-written gradient is the formula's derivative (central differences)
    h, i = 1e-6, (2, 3)
    up, down = out.copy(), out.copy()
    up[i] += h
    down[i] -= h
    numeric = (formula(np, kind, up, y, logits) - formula(np, kind, down, y, logits)) / (2 * h)
    assert grad[i] == pytest.approx(numeric, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("logits", [False, True])
@pytest.mark.parametrize("kind", KINDS)
def test_torch_backend_computes_the_semantics_formula(kind, logits):
    torch = need("torch")
    from backends.torch.losses import LOSSES as TORCH_LOSSES

    out, y = batch(kind, logits, np.random.default_rng(2))
    t_y = torch.tensor(y, dtype=torch.int64 if kind.startswith("sparse") else torch.float64)
    t_out = torch.tensor(out, dtype=torch.float64)
    expected = float(formula(torch, kind, t_out, t_y, logits))
    assert float(TORCH_LOSSES[kind](t_out, t_y, logits)) == pytest.approx(expected, rel=1e-13, abs=1e-15)
    assert float(formula(np, kind, out, y, logits)) == pytest.approx(expected, rel=1e-13, abs=1e-15)


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


@pytest.mark.parametrize("loss, logits", [("categorical_crossentropy", False), ("binary_crossentropy", True),
                                          ("sparse_categorical_crossentropy", False), ("mae", False)])
def test_the_pytorch_emitter_copies_the_semantics_formula(loss, logits):
    """The emitted program's loss is the semantics' own source, not a restatement."""
    import inspect

    from compiler.pipeline import compile_text
    from tools.emit.torch_source import loss_source

    head = "Dense(3)" if logits or loss == "mae" else "Dense(3, activation=softmax) Flatten()"
    written = f"{loss}(from_logits=true)" if logits else loss
    spec = compile_text(f"model m {{ Input([4]) {head} }} train {{ loss = {written} optimizer = adam }}").spec
    source = "\n".join(loss_source(spec))
    fn = losses.formula(loss, logits)
    assert inspect.getsource(fn).rstrip() in source
    assert f"return {fn.__name__}(torch, z, y)" in source
    namespace = {"torch": need("torch")}
    exec(source, namespace)  # the emitted lines run on their own
    rng = np.random.default_rng(3)
    out, y = batch(loss, logits, rng)
    out, y = out[:, :3], (y % 3 if y.ndim == 1 else y[:, :3])
    torch = namespace["torch"]
    t_y = torch.tensor(y, dtype=torch.int64 if loss.startswith("sparse") else torch.float64)
    emitted = float(namespace["data_loss"](torch.tensor(out, dtype=torch.float64), t_y))
    assert emitted == pytest.approx(float(losses.loss_value(np, loss, out, y, logits)), rel=1e-13)


def test_every_backend_and_the_pytorch_emitter_compute_the_penalty_formula():
    """l1·Σ|w| + l2·Σw² is written once (compiler.semantics.penalties.l1_l2): NumPy, PyTorch, Keras and the
    emitted program (its source copied) compute it."""
    import inspect

    from compiler.ir.values import Regularizer
    from compiler.semantics.penalties import l1_l2, penalty

    torch = need("torch")
    ops = need("keras").ops
    from backends.keras.layers import Penalty
    from backends.torch.model import regularizer_penalty
    from tools.emit.torch_source import HELPERS

    w = np.random.default_rng(5).normal(size=(4, 3))
    reg = Regularizer(kind="l1l2", l1=0.03, l2=0.2)
    expected = 0.03 * np.abs(w).sum() + 0.2 * (w * w).sum()
    assert penalty(reg, w) == pytest.approx(expected, rel=1e-15)
    assert float(regularizer_penalty(reg, torch.tensor(w))) == pytest.approx(expected, rel=1e-15)
    assert float(Penalty(0.03, 0.2)(ops.convert_to_tensor(w, dtype="float64"))) == pytest.approx(expected, rel=1e-15)
    assert HELPERS["l1_l2"] == inspect.getsource(l1_l2).rstrip().splitlines()
    assert float(regularizer_penalty(Regularizer(kind="l1l2"), torch.tensor(w))) == 0.0
