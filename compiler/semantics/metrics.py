"""Metrics (Keras' meaning for the loss in use); each is a mean over samples.

A per-position output (a segmentation's (N, H, W, C)) has a value per position (pixel): Keras' metrics
(``MeanMetricWrapper`` → ``reduce_to_samplewise_values``) take the mean over a sample's positions first,
then the mean over samples; the sums here are of those per-sample means (``_per_sample``).

accuracy: sparse labels → argmax(out) = y; one-hot → argmax(out) = argmax(y); binary → [p > 0.5] = y
(with logits, p > 0.5 is z > 0); mse, mae, rmse on the raw outputs, against targets of their shape (never class
indices: compiler.passes.training refuses them with sparse_categorical_crossentropy).
"""

from __future__ import annotations

import math

import numpy as np

from compiler.ir.training import Loss


def accuracy_kind(loss_kind: str, units: int, sparse_labels: bool) -> str:
    """How ``accuracy`` compares outputs and labels: ``binary`` (threshold, ``binary_threshold``) for a binary
    cross-entropy or a one-unit output under a cross-entropy; else ``sparse`` (argmax = label) for class-index
    labels; else ``categorical`` (argmax = argmax)."""
    if loss_kind == "binary_crossentropy" or units == 1 and loss_kind not in ("mse", "mae"):
        return "binary"
    return "sparse" if sparse_labels else "categorical"


def binary_threshold(outputs_are_logits: bool) -> float:
    """The binary accuracy's threshold: p > 0.5 on probabilities, z > 0 on logits (the same decision)."""
    return 0.0 if outputs_are_logits else 0.5


def sparse_labels(out: np.ndarray, y: np.ndarray) -> bool:
    """True when ``y`` holds class indices for ``out``: one value per sample (or per position of a per-pixel
    output: ``y`` of one axis fewer), against several outputs."""
    return y.ndim == 1 or y.ndim == out.ndim - 1 or y.shape[-1] == 1 and out.shape[-1] > 1


def _per_sample(terms):
    """Σ over samples of each sample's mean over its positions: ``terms`` has one value per position, shape
    (N, …) — (N,) for one value per sample, which is summed as it is."""
    if terms.ndim == 1:
        return terms.sum()
    count = 1
    for d in terms.shape[1:]:
        count *= d
    return terms.sum() / count


def metric_terms(name: str, loss: Loss, out, y, logits: bool):
    """The metric summed over the samples of ``out``, as a 0-d array of ``out``'s library (NumPy, or torch on
    the device, with no host synchronisation); divide by the count for the mean (rmse: sqrt after).

    Written with the operations NumPy arrays and torch tensors share (``argmax``/``sum``/``mean`` with
    ``axis``, ``reshape``, comparisons): the same formula on both."""
    if name == "accuracy":
        kind = accuracy_kind(loss.kind, out.shape[-1], sparse_labels(out, y))
        if kind == "binary":
            predicted = out > binary_threshold(logits)
            return _per_sample((predicted == (y > 0.5)).sum(axis=-1) / out.shape[-1])
        if kind == "sparse":
            return _per_sample(out.argmax(axis=-1) == y.reshape(tuple(out.shape[:-1])))
        return _per_sample(out.argmax(axis=-1) == y.argmax(axis=-1))
    diff = out - y
    if name == "mae":
        return _per_sample(abs(diff).mean(axis=-1))
    return _per_sample((diff * diff).mean(axis=-1))  # mse and rmse (sqrt of the mean, taken by the caller)


def metric_sums(name: str, loss: Loss, out: np.ndarray, y: np.ndarray, logits: bool) -> float:
    """:func:`metric_terms` as a Python float."""
    return float(metric_terms(name, loss, out, y, logits))


class MetricSums:
    """Running sums of the loss and metrics over the samples seen so far in an epoch.

    Kept as plain sums so that an interrupted epoch resumes with exactly the same totals.
    """

    def __init__(self, names, loss, logits: bool, state: dict | None = None):
        self.names, self.loss, self.logits = list(names), loss, logits
        state = state or {}
        self.count = int(state.get("count", 0))
        self.loss_sum = float(state.get("loss_sum", 0.0))
        self.sums = {n: float(state.get(f"sum/{n}", 0.0)) for n in self.names}

    def add(self, loss: float, outputs: np.ndarray, y: np.ndarray) -> None:
        """One batch: its loss and the metrics of its outputs against ``y``."""
        self.add_terms(loss, len(outputs), [metric_sums(n, self.loss, outputs, y, self.logits) for n in self.names])

    def add_terms(self, loss: float, count: int, terms) -> None:
        """One batch of ``count`` samples whose metric sums (``metric_terms``, in ``names``' order) are known."""
        self.count += count
        self.loss_sum += loss * count
        for name, term in zip(self.names, terms):
            self.sums[name] += float(term)

    def values(self) -> dict[str, float]:
        return sums_values(self.state(), self.names)

    def state(self) -> dict[str, float]:
        return {"count": self.count, "loss_sum": self.loss_sum, **{f"sum/{n}": v for n, v in self.sums.items()}}


class OutputSums:
    """``MetricSums`` for a model with several outputs (``compiler.semantics.outputs``): the count, the total
    loss and, for each output, its unweighted loss (``<key>_loss``) and metrics (``<key>_<metric>``), summed
    over samples. ``heads``: ``compiler.semantics.outputs.heads(spec)``. A metric on logits (the output's
    ``from_logits``) uses the logits' threshold."""

    def __init__(self, heads, state: dict | None = None):
        self.heads = heads
        self.names = [n for h in heads for n in (h.loss_name, *(h.metric_name(m) for m in h.metrics))]
        state = state or {}
        self.count = int(state.get("count", 0))
        self.loss_sum = float(state.get("loss_sum", 0.0))
        self.sums = {n: float(state.get(f"sum/{n}", 0.0)) for n in self.names}

    def add(self, losses, outputs, y) -> None:
        """One batch: ``losses`` = (total, loss of each output), ``outputs`` one array per output, ``y`` the
        targets by output key."""
        count = len(outputs[0])
        self.count += count
        self.loss_sum += float(losses[0]) * count
        for head, loss, out in zip(self.heads, losses[1:], outputs):
            self.sums[head.loss_name] += float(loss) * count
            for m in head.metrics:
                self.sums[head.metric_name(m)] += metric_sums(m, head.loss, out, y[head.key], head.loss.from_logits)

    def values(self) -> dict[str, float]:
        return sums_values(self.state(), self.names)

    def state(self) -> dict[str, float]:
        return {"count": self.count, "loss_sum": self.loss_sum, **{f"sum/{n}": v for n, v in self.sums.items()}}


def sums_values(sums: dict, names) -> dict[str, float]:
    """Means from running sums (``Steps.read``): ``loss`` = loss_sum/count, each metric sum/count (rmse, also an
    output's ``<key>_rmse``: its sqrt)."""
    count = sums["count"]
    out = {"loss": sums["loss_sum"] / count}
    for name in names:
        mean = sums[f"sum/{name}"] / count
        out[name] = math.sqrt(mean) if name == "rmse" or name.endswith("_rmse") else mean
    return out
