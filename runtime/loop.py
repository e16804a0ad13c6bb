"""The training loop every backend shares: batch order (``compiler.semantics.batch_order``), learning
rate per step (``compiler.semantics.schedules``), metrics, validation, early stopping
(``compiler.semantics.early_stopping``), history. A backend supplies a ``Trainer``
(``backends.contract``).

History per epoch: ``loss`` (mean of the batch losses weighted by batch size, penalties
included, as Keras reports it), each metric on the training batches (several outputs: each
output's ``<key>_loss`` and ``<key>_<metric>``, ``compiler.semantics.outputs``), ``val_*`` on the
validation data in inference mode, ``learning_rate`` of the epoch's last step, ``seconds``.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from backends.contract import History, Interrupted, LoopEvents, LoopState, Trainer
from compiler.semantics.batch_order import batches
from compiler.semantics.divergence import Diverged
from compiler.semantics.early_stopping import EarlyStopper
from compiler.semantics.metrics import MetricSums, OutputSums, sums_values
from compiler.semantics.outputs import heads, is_several, recorded_names
from compiler.semantics.schedules import learning_rate
from compiler.ir.spec import Spec


READ_EVERY = 0.25  # seconds: how often the progress display reads the running loss (a device sync)


class HostSteps:
    """``backends.contract.Steps`` over a trainer's ``train_batch`` / ``evaluate_batch`` (NumPy arrays in and
    out, nothing deferred): what the loop uses for a trainer without its own ``steps``."""

    def __init__(self, trainer: Trainer, spec: Spec, x: np.ndarray, y: np.ndarray):
        self.trainer, self.x, self.y = trainer, x, y
        self.heads = heads(spec)
        self.several = is_several(spec)  # the trainer returns (total, loss per output), outputs per output
        self.metrics, self.loss = list(self.heads[0].metrics), self.heads[0].loss
        self.order: list[np.ndarray] = []
        self.reset({})

    def set_order(self, order):
        self.order = order

    def reset(self, sums: dict) -> None:
        if self.several:
            self.sums = OutputSums(self.heads, sums)
        else:
            self.sums = MetricSums(self.metrics, self.loss, self.trainer.outputs_are_logits, sums)

    def train(self, b: int, step: int, lr: float) -> None:
        idx = self.order[b]
        xb, yb = self.x[idx], self.y[idx]
        loss, out = self.trainer.train_batch(xb, yb, step, lr)
        self.sums.add(loss, out, yb)

    def evaluate(self, batch_size: int) -> None:
        for i in range(0, len(self.x), batch_size):
            xb, yb = self.x[i:i + batch_size], self.y[i:i + batch_size]
            loss, out = self.trainer.evaluate_batch(xb, yb)
            self.sums.add(loss, out, yb)

    def read(self) -> dict[str, float]:
        return self.sums.state()


def steps_for(trainer: Trainer, spec: Spec, x: np.ndarray, y: np.ndarray):
    """The trainer's own ``Steps`` over ``(x, y)`` (``trainer.steps``), or ``HostSteps`` (always for a model
    with several inputs or outputs, whose x and y are ``runtime.named_arrays.NamedArrays``)."""
    own = getattr(trainer, "steps", None)
    return own(x, y) if own is not None and not spec.multi_io else HostSteps(trainer, spec, x, y)


def evaluate(trainer: Trainer, spec: Spec, x: np.ndarray, y: np.ndarray, batch_size: int, *,
             steps=None) -> dict[str, float]:
    """Loss and metrics over ``x`` in inference mode, batch by batch (loss weighted by batch size);
    ``steps``: the ``Steps`` over ``(x, y)`` to use (kept by ``fit`` across epochs)."""
    steps = steps if steps is not None else steps_for(trainer, spec, x, y)
    steps.reset({})
    steps.evaluate(batch_size)
    return sums_values(steps.read(), recorded_names(spec))


def fit(trainer: Trainer, spec: Spec, x: np.ndarray, y: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        *, epochs: int, seed: int, events: LoopEvents | None = None, resume: LoopState | None = None,
        on_checkpoint: Callable[[LoopState], None] | None = None, checkpoint_every: int | None = None,
        should_stop: Callable[[], bool] | None = None) -> History:
    """Train for ``epochs`` (or until early stopping); raises ``Diverged`` with epoch, step and
    ``weights_step`` set, after ``on_checkpoint`` has saved the state after the last good step.

    ``resume`` continues from a saved ``LoopState``; ``on_checkpoint`` is called at the end of every
    epoch, every ``checkpoint_every`` steps and when a step diverges; when ``should_stop()`` becomes
    true the loop stops at the next step boundary, calls ``on_checkpoint`` and raises ``Interrupted``.

    The steps (``backends.contract.Steps``) are read — on an accelerator, the one wait for the device —
    only where a value is needed: at the end of an epoch, at a checkpoint, when stopping, and for the
    progress display at most every ``READ_EVERY`` seconds.
    """
    t = spec.training
    events = events or LoopEvents()
    state = resume or LoopState()
    history = state.history
    stopper = EarlyStopper(t.early_stopping) if t.early_stopping else None
    if stopper is not None and state.stopper is not None:
        stopper.load(state.stopper, state.best_weights)
    train_steps = steps_for(trainer, spec, x, y)
    val_steps = steps_for(trainer, spec, x_val, y_val) if len(x_val) else None
    counts_skips = getattr(trainer, "skipped_steps", None) is not None
    names = recorded_names(spec)  # besides the loss: metrics (several outputs: each output's loss and metrics)

    def snapshot() -> LoopState:
        state.stopper = stopper.state() if stopper is not None else None
        state.best_weights = stopper.best_weights if stopper is not None else None
        return state

    while state.epoch < epochs and not history.stopped_early:
        epoch = state.epoch
        start = time.perf_counter() - state.epoch_seconds
        order = batches(len(x), t.batch_size, seed, epoch)
        events.epoch_start(epoch, len(order))
        train_steps.set_order(order)
        train_steps.reset(state.sums)
        lr = learning_rate(t.optimizer, t.schedule, max(state.step - 1, 0))
        last_read = time.perf_counter()

        def save(sums: dict) -> None:
            state.sums, state.epoch_seconds = sums, time.perf_counter() - start
            if on_checkpoint is not None:
                on_checkpoint(snapshot())

        try:
            for b in range(state.batch, len(order)):
                if should_stop is not None and should_stop():
                    save(train_steps.read())
                    raise Interrupted(state)
                lr = learning_rate(t.optimizer, t.schedule, state.step)
                train_steps.train(b, state.step, lr)
                state.step += 1
                state.batch = b + 1
                loss = None
                now = time.perf_counter()
                if now - last_read >= READ_EVERY:
                    sums = train_steps.read()
                    loss, last_read = sums["loss_sum"] / sums["count"], now
                events.batch_end(b, loss)
                if checkpoint_every and on_checkpoint is not None and state.step % checkpoint_every == 0 \
                        and state.batch < len(order):
                    save(train_steps.read())
            sums = train_steps.read()
        except Diverged as exc:  # the steps were undone: the state is that after the last good step
            bad = getattr(exc, "step_index", None)
            bad = state.step if bad is None else bad
            state.batch -= state.step - bad
            state.step = bad
            exc.epoch, exc.step, exc.weights_step = epoch + 1, bad + 1, bad  # from 1 in messages
            save(train_steps.read() if state.batch else {})  # the final checkpoint holds the weights saved
            raise
        logs = {"epoch": epoch + 1, **sums_values(sums, names)}
        if val_steps is not None:
            logs.update({f"val_{k}": v for k, v in evaluate(trainer, spec, x_val, y_val, t.batch_size,
                                                             steps=val_steps).items()})
        logs["learning_rate"] = lr
        if counts_skips:  # dynamic loss scaling (mixed_float16): the steps it skipped this epoch (the trainer
            # counts the run's; the earlier epochs' are in the history, a resumed one's included)
            earlier = sum(int(e.get("skipped_steps", 0)) for e in history.epochs)
            logs["skipped_steps"] = int(trainer.skipped_steps) - earlier
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
