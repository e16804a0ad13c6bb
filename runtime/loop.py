"""The training loop every backend shares: batch order (``compiler.semantics.batch_order``), learning
rate per step (``compiler.semantics.schedules``), metrics, validation, early stopping
(``compiler.semantics.early_stopping``), history. A backend supplies a ``Trainer``
(``backends.contract``).

History per epoch: ``loss`` (mean of the batch losses weighted by batch size, penalties
included, as Keras reports it), each metric on the training batches, ``val_*`` on the
validation data in inference mode, ``learning_rate`` of the epoch's last step, ``seconds``.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import numpy as np

from backends.contract import History, Interrupted, LoopEvents, LoopState, Trainer
from compiler.semantics.batch_order import batches
from compiler.semantics.divergence import Diverged
from compiler.semantics.early_stopping import EarlyStopper
from compiler.semantics.schedules import learning_rate
from compiler.ir.spec import Spec


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
        from compiler.semantics.metrics import metric_sums

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


def fit(trainer: Trainer, spec: Spec, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        *, epochs: int, seed: int, events: LoopEvents | None = None, resume: LoopState | None = None,
        on_checkpoint: Callable[[LoopState], None] | None = None, checkpoint_every: int | None = None,
        should_stop: Callable[[], bool] | None = None) -> History:
    """Train for ``epochs`` (or until early stopping); raises ``Diverged`` with epoch, step and
    ``weights_step`` set, after ``on_checkpoint`` has saved the state after the last good step.

    ``resume`` continues from a saved ``LoopState``; ``on_checkpoint`` is called at the end of every
    epoch, every ``checkpoint_every`` steps and when a step diverges; when ``should_stop()`` becomes
    true the loop stops at the next step boundary, calls ``on_checkpoint`` and raises ``Interrupted``.
    """
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
