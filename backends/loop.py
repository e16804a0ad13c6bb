"""The training loop every backend shares: batch order, learning rate per step, metrics,
validation, early stopping, history. A backend supplies a ``Trainer``.

Batch order: each epoch a permutation from ``default_rng(SeedSequence([seed, 1, epoch]))``;
batches in that order, the last one partial (as Keras' ``fit(shuffle=True)``).
History per epoch: ``loss`` (mean of the batch losses weighted by batch size, penalties
included, as Keras reports it), each metric on the training batches, ``val_*`` on the
validation data in inference mode, ``learning_rate`` of the epoch's last step, ``seconds``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np

from backends.schedules import learning_rate
from compiler.ir.spec import Spec


class Trainer(Protocol):
    def train_batch(self, x: np.ndarray, y: np.ndarray, step: int, lr: float) -> tuple[float, np.ndarray]:
        """One optimizer step; returns (total loss, outputs). Raises ``Diverged`` before updating on NaN/inf."""

    def evaluate_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(total loss, outputs) in inference mode."""

    def get_weights(self) -> dict[str, np.ndarray]: ...

    def set_weights(self, weights: dict[str, np.ndarray]) -> None: ...

    @property
    def outputs_are_logits(self) -> bool: ...


class Diverged(Exception):
    """The loss or a gradient became NaN or infinite; the weights are those of the last good step."""

    def __init__(self, message: str, layer: str | None = None):
        super().__init__(message)
        self.layer = layer
        self.epoch: int | None = None
        self.step: int | None = None

    def __str__(self) -> str:
        where = f"epoch {self.epoch}, step {self.step}: " if self.epoch is not None else ""
        return where + super().__str__()


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None

    def column(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs if key in e]


def batches(n: int, batch_size: int, seed: int, epoch: int) -> list[np.ndarray]:
    order = np.random.default_rng(np.random.SeedSequence([seed, 1, epoch])).permutation(n)
    return [order[i:i + batch_size] for i in range(0, n, batch_size)]


def metric_values(names, loss, outputs: list[np.ndarray], ys: list[np.ndarray], logits: bool) -> dict[str, float]:
    from backends.numpy.metrics import metric_sums

    n = sum(len(o) for o in outputs)
    out = {}
    for name in names:
        total = sum(metric_sums(name, loss, o, y, logits) for o, y in zip(outputs, ys))
        out[name] = math.sqrt(total / n) if name == "rmse" else total / n
    return out


def evaluate(trainer: Trainer, spec: Spec, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict[str, float]:
    """Loss and metrics over ``x`` in inference mode, batch by batch (loss weighted by batch size)."""
    losses, outputs, ys = 0.0, [], []
    for i in range(0, len(x), batch_size):
        loss, out = trainer.evaluate_batch(x[i:i + batch_size], y[i:i + batch_size])
        losses += loss * len(out)
        outputs.append(out)
        ys.append(y[i:i + batch_size])
    t = spec.training
    return {"loss": losses / len(x), **metric_values(t.metrics, t.loss, outputs, ys, trainer.outputs_are_logits)}


class EarlyStopper:
    """Keras' EarlyStopping: stop after ``patience`` epochs without an improvement > min_delta."""

    def __init__(self, rule):
        self.rule = rule
        mode = rule.mode if rule.mode != "auto" else ("max" if "acc" in rule.monitor else "min")
        self.sign = 1.0 if mode == "min" else -1.0
        self.best = math.inf
        self.best_epoch: int | None = None
        self.best_weights: dict[str, np.ndarray] | None = None
        self.wait = 0

    def update(self, epoch: int, logs: dict[str, float], weights: Callable[[], dict]) -> bool:
        """Record ``logs``; True when training should stop."""
        value = self.sign * logs[self.rule.monitor]
        if value < self.best - self.rule.min_delta or self.best_epoch is None:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.rule.restore_best_weights:
                self.best_weights = {k: v.copy() for k, v in weights().items()}
            return False
        self.wait += 1
        return self.wait >= self.rule.patience and epoch > 0


@dataclass
class LoopEvents:
    """Callbacks for progress display; all optional."""

    epoch_start: Callable[[int, int], None] = lambda epoch, steps: None
    batch_end: Callable[[int, float], None] = lambda batch, loss: None
    epoch_end: Callable[[int, dict], None] = lambda epoch, logs: None


def fit(trainer: Trainer, spec: Spec, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        *, epochs: int, seed: int, events: LoopEvents | None = None) -> History:
    """Train for ``epochs`` (or until early stopping); raises ``Diverged`` with epoch and step set.

    A trainer with its own ``native_fit`` (Keras' ``fit`` in native mode) is handed the whole
    job; it must return the same ``History`` (same keys per epoch) and honour the events.
    """
    native_fit = getattr(trainer, "native_fit", None)
    if native_fit is not None:
        return native_fit(x, y, x_val, y_val, epochs=epochs, seed=seed, events=events or LoopEvents())
    t = spec.training
    events = events or LoopEvents()
    history = History()
    stopper = EarlyStopper(t.early_stopping) if t.early_stopping else None
    step = 0
    for epoch in range(epochs):
        start = time.perf_counter()
        order = batches(len(x), t.batch_size, seed, epoch)
        events.epoch_start(epoch, len(order))
        total, outputs, ys = 0.0, [], []
        lr = learning_rate(t.optimizer, t.schedule, step)
        for b, idx in enumerate(order):
            lr = learning_rate(t.optimizer, t.schedule, step)
            xb, yb = x[idx], y[idx]
            try:
                loss, out = trainer.train_batch(xb, yb, step, lr)
            except Diverged as exc:
                exc.epoch, exc.step = epoch + 1, step + 1  # both counted from 1 in messages
                raise
            total += loss * len(idx)
            outputs.append(out)
            ys.append(yb)
            step += 1
            events.batch_end(b, loss)
        logs = {"epoch": epoch + 1, "loss": total / len(x),
                **metric_values(t.metrics, t.loss, outputs, ys, trainer.outputs_are_logits)}
        if len(x_val):
            logs.update({f"val_{k}": v for k, v in evaluate(trainer, spec, x_val, y_val, t.batch_size).items()})
        logs["learning_rate"] = lr
        logs["seconds"] = time.perf_counter() - start
        history.epochs.append(logs)
        events.epoch_end(epoch, logs)
        if stopper is not None and stopper.update(epoch, logs, trainer.get_weights):
            history.stopped_early = True
            break
    if stopper is not None:
        history.best_epoch = None if stopper.best_epoch is None else stopper.best_epoch + 1
        if stopper.best_weights is not None:
            trainer.set_weights(stopper.best_weights)
    return history
