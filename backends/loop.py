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

from backends.divergence import Diverged  # noqa: F401  (re-exported: the loop's exception)
from backends.schedules import learning_rate
from compiler.ir.spec import Spec


class Trainer(Protocol):
    def train_batch(self, x: np.ndarray, y: np.ndarray, step: int, lr: float) -> tuple[float, np.ndarray]:
        """One optimizer step; returns (total loss, outputs). A step that diverges (``backends.divergence``:
        loss, gradients, or the updated weights and optimizer state) is undone and raises ``Diverged``."""

    def evaluate_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(total loss, outputs) in inference mode."""

    def get_weights(self) -> dict[str, np.ndarray]: ...

    def set_weights(self, weights: dict[str, np.ndarray]) -> None: ...

    @property
    def outputs_are_logits(self) -> bool: ...


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
        from backends.numpy.metrics import metric_sums

        self.count += len(outputs)
        self.loss_sum += loss * len(outputs)
        for name in self.names:
            self.sums[name] += metric_sums(name, self.loss, outputs, y, self.logits)

    def values(self) -> dict[str, float]:
        out = {"loss": self.loss_sum / self.count}
        for name in self.names:
            mean = self.sums[name] / self.count
            out[name] = math.sqrt(mean) if name == "rmse" else mean
        return out

    def state(self) -> dict[str, float]:
        return {"count": self.count, "loss_sum": self.loss_sum, **{f"sum/{n}": v for n, v in self.sums.items()}}


def evaluate(trainer: Trainer, spec: Spec, x: np.ndarray, y: np.ndarray, batch_size: int) -> dict[str, float]:
    """Loss and metrics over ``x`` in inference mode, batch by batch (loss weighted by batch size)."""
    t = spec.training
    sums = MetricSums(t.metrics, t.loss, trainer.outputs_are_logits)
    for i in range(0, len(x), batch_size):
        loss, out = trainer.evaluate_batch(x[i:i + batch_size], y[i:i + batch_size])
        sums.add(loss, out, y[i:i + batch_size])
    return sums.values()


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

    def state(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load(self, state: dict, best_weights: dict[str, np.ndarray] | None) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_weights = best_weights


@dataclass
class LoopEvents:
    """Callbacks for progress display; all optional."""

    epoch_start: Callable[[int, int], None] = lambda epoch, steps: None
    batch_end: Callable[[int, float], None] = lambda batch, loss: None
    epoch_end: Callable[[int, dict], None] = lambda epoch, logs: None


@dataclass
class LoopState:
    """Where training stands: enough to continue exactly from here (see ``backends.checkpoint``).

    ``epoch`` is the epoch in progress (0-based), ``batch`` the batches of it already done,
    ``step`` the optimizer steps done in all, ``sums`` the running sums of that epoch.
    """

    epoch: int = 0
    batch: int = 0
    step: int = 0
    sums: dict = field(default_factory=dict)
    epoch_seconds: float = 0.0
    history: History = field(default_factory=History)
    stopper: dict | None = None
    best_weights: dict[str, np.ndarray] | None = None


class Interrupted(Exception):
    """Training stopped at a step boundary because it was asked to (Ctrl-C, SIGTERM)."""

    def __init__(self, state: LoopState):
        super().__init__(f"interrupted at epoch {state.epoch + 1}, after step {state.step}")
        self.state = state


def fit(trainer: Trainer, spec: Spec, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        *, epochs: int, seed: int, events: LoopEvents | None = None, resume: LoopState | None = None,
        on_checkpoint: Callable[[LoopState], None] | None = None, checkpoint_every: int | None = None,
        should_stop: Callable[[], bool] | None = None) -> History:
    """Train for ``epochs`` (or until early stopping); raises ``Diverged`` with epoch, step and
    ``weights_step`` set, after ``on_checkpoint`` has saved the state after the last good step.

    ``resume`` continues from a saved ``LoopState``; ``on_checkpoint`` is called at the end of every
    epoch, every ``checkpoint_every`` steps and when a step diverges; when ``should_stop()`` becomes
    true the loop stops at the next step boundary, calls ``on_checkpoint`` and raises ``Interrupted``.

    A trainer with its own ``native_fit`` (Keras' ``fit`` in native mode) is handed the whole
    job; it must return the same ``History`` (same keys per epoch) and honour the events.
    """
    native_fit = getattr(trainer, "native_fit", None)
    if native_fit is not None:
        return native_fit(x, y, x_val, y_val, epochs=epochs, seed=seed, events=events or LoopEvents(), resume=resume,
                          on_checkpoint=on_checkpoint, checkpoint_every=checkpoint_every, should_stop=should_stop)
    t = spec.training
    events = events or LoopEvents()
    state = resume or LoopState()
    history = state.history
    stopper = EarlyStopper(t.early_stopping) if t.early_stopping else None
    if stopper is not None and state.stopper is not None:
        stopper.load(state.stopper, state.best_weights)

    def snapshot() -> LoopState:
        state.stopper = stopper.state() if stopper is not None else None
        state.best_weights = stopper.best_weights if stopper is not None else None
        return state

    while state.epoch < epochs and not history.stopped_early:
        epoch = state.epoch
        start = time.perf_counter() - state.epoch_seconds
        order = batches(len(x), t.batch_size, seed, epoch)
        events.epoch_start(epoch, len(order))
        sums = MetricSums(t.metrics, t.loss, trainer.outputs_are_logits, state.sums)
        lr = learning_rate(t.optimizer, t.schedule, max(state.step - 1, 0))
        for b in range(state.batch, len(order)):
            if should_stop is not None and should_stop():
                state.sums, state.epoch_seconds = sums.state(), time.perf_counter() - start
                if on_checkpoint is not None:
                    on_checkpoint(snapshot())
                raise Interrupted(state)
            idx = order[b]
            lr = learning_rate(t.optimizer, t.schedule, state.step)
            xb, yb = x[idx], y[idx]
            try:
                loss, out = trainer.train_batch(xb, yb, state.step, lr)
            except Diverged as exc:  # the step was undone: the state is that after the last good step
                exc.epoch, exc.step, exc.weights_step = epoch + 1, state.step + 1, state.step  # from 1 in messages
                state.sums, state.epoch_seconds = sums.state() if state.batch else {}, time.perf_counter() - start
                if on_checkpoint is not None:  # the final checkpoint holds the weights saved with the run
                    on_checkpoint(snapshot())
                raise
            sums.add(loss, out, yb)
            state.step += 1
            state.batch = b + 1
            events.batch_end(b, loss)
            if checkpoint_every and on_checkpoint is not None and state.step % checkpoint_every == 0 \
                    and state.batch < len(order):
                state.sums, state.epoch_seconds = sums.state(), time.perf_counter() - start
                on_checkpoint(snapshot())
        logs = {"epoch": epoch + 1, **sums.values()}
        if len(x_val):
            logs.update({f"val_{k}": v for k, v in evaluate(trainer, spec, x_val, y_val, t.batch_size).items()})
        logs["learning_rate"] = lr
        logs["seconds"] = time.perf_counter() - start
        history.epochs.append(logs)
        events.epoch_end(epoch, logs)
        if stopper is not None and stopper.update(epoch, logs, trainer.get_weights):
            history.stopped_early = True
        state.epoch, state.batch, state.sums, state.epoch_seconds = epoch + 1, 0, {}, 0.0
        if on_checkpoint is not None:
            on_checkpoint(snapshot())
    if stopper is not None:
        history.best_epoch = None if stopper.best_epoch is None else stopper.best_epoch + 1
        if stopper.best_weights is not None:
            trainer.set_weights(stopper.best_weights)
    return history
