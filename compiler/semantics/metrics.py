"""Metrics (Keras' meaning for the loss in use); each is a mean over samples.

accuracy: sparse labels → argmax(out) = y; one-hot → argmax(out) = argmax(y); binary → [p > 0.5] = y
(with logits, p > 0.5 is z > 0); mse, mae, rmse on the raw outputs.
"""

from __future__ import annotations

import numpy as np

from compiler.ir.training import Loss


def metric_sums(name: str, loss: Loss, out: np.ndarray, y: np.ndarray, logits: bool) -> float:
    """The metric summed over the samples of ``out`` (divide by the count for the mean; rmse: sqrt after)."""
    if name == "accuracy":
        if loss.kind == "binary_crossentropy" or out.shape[-1] == 1 and loss.kind not in ("mse", "mae"):
            predicted = out > (0.0 if logits else 0.5)
            return float((predicted == (y > 0.5)).mean(axis=-1).sum())
        if y.ndim == 1 or y.shape[-1] == 1 and out.shape[-1] > 1:
            return float((out.argmax(axis=-1) == y.reshape(-1)).sum())
        return float((out.argmax(axis=-1) == y.argmax(axis=-1)).sum())
    diff = out - y
    if name == "mae":
        return float(np.abs(diff).mean(axis=-1).sum())
    return float((diff * diff).mean(axis=-1).sum())  # mse and rmse (sqrt of the mean, taken by the caller)
