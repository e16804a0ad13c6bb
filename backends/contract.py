"""The contract between a backend and the shared loop (``runtime.loop``): the ``Trainer`` protocol a
backend implements, and the loop-state types they exchange (what a checkpoint keeps).

A backend imports these, never the runtime: the loop drives a trainer, not the other way round. There
is one loop for every backend and mode (Keras' native mode included); a backend supplies steps, the
loop does the rest — batch order, learning rate per step, metrics and their running sums, validation,
early stopping, checkpoints, stopping on request, resume, history. ``tests/test_loop_contract.py``
runs the loop over every backend of ``backends.BACKENDS`` in each of ``backends.MODES`` and is what a
new backend must pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np


class Trainer(Protocol):
    """What a backend's trainer provides; built as ``cls(spec, weights=None, *, dtype, seed, mode, device="cpu",
    tf32=False, deterministic=False)`` (``runtime.trainers.make_trainer``): ``dtype`` a precision policy
    (``compiler.semantics.precision``; weights, outputs and state cross in its variable dtype), ``mode`` one of
    ``backends.MODES``, ``device`` resolved by ``backends.devices`` (a trainer refuses one it cannot use).

    Obligations the contract test checks:
    - determinism: the same spec, seed, weights and calls give the same bits (weights, losses, outputs);
    - ``state()`` / ``load_state()`` round-trip everything besides the weights that a later step reads
      (optimizer slots and iterations, random-number states), so that a trainer built from a
      checkpoint's weights with its state loaded continues bit for bit as the original would;
    - a step that diverges is undone (weights, moving statistics, optimizer and random state as after
      the last good step) and raises ``compiler.semantics.divergence.Diverged``.
    """

    def train_batch(self, x: np.ndarray, y: np.ndarray, step: int, lr: float) -> tuple[float, np.ndarray]:
        """One optimizer step at learning rate ``lr`` (the loop's, from ``compiler.semantics.schedules``;
        ``step`` is the 0-based global step, which canonical dropout masks are drawn from); returns
        (total loss with penalties, the outputs the model predicts in training mode). A step that
        diverges (``compiler.semantics.divergence``: loss, gradients, or the updated weights and
        optimizer state) is undone and raises ``Diverged``."""

    def evaluate_batch(self, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
        """(total loss, outputs) in inference mode; changes nothing."""

    def get_weights(self) -> dict[str, np.ndarray]:
        """Every weight of ``compiler.weights.weight_specs``, by name, in Keras' layouts (possibly the live
        arrays, as the NumPy trainer's: copy what must be kept)."""

    def set_weights(self, weights: dict[str, np.ndarray]) -> None:
        """Copy ``weights`` (any subset of the names) into the model."""

    def state(self) -> dict[str, np.ndarray]:
        """What a checkpoint keeps besides the weights (see above); plain arrays."""

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Restore a ``state()``."""

    def probe(self, x: np.ndarray, y: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """One training-mode pass without an update: each layer's output and each trainable weight's
        gradient (``tools.diagnose``)."""

    # Several inputs or outputs (``Spec.multi_io``): ``x`` and ``y`` are mappings by key (``runtime.named_arrays.
    # NamedArrays``: the Input layers' names, the output keys). With several outputs ``train_batch`` and
    # ``evaluate_batch`` return ((total loss, each output's unweighted loss in output order), a tuple of the
    # outputs) — what the loop records as ``loss`` and ``<key>_loss`` (``compiler.semantics.outputs``); total =
    # Σₖ wₖ·lossₖ + penalties. ``probe`` takes the same x and y.

    @property
    def outputs_are_logits(self) -> bool:
        """The outputs ``train_batch`` returns are logits (the spec's ``from_logits``), for the metrics."""

    # Optional (the loop falls back to ``runtime.loop.HostSteps`` over ``train_batch``/``evaluate_batch``):
    #   def steps(self, x, y) -> Steps: the trainer's own steps over a data set (the torch backend's
    #       keep data, losses and metrics on its device: ``backends.torch.steps``);
    #   skipped_steps: int | None — the steps dynamic loss scaling skipped so far (``compiler.semantics.precision``),
    #       kept by ``state()``; None (or absent) for a precision without loss scaling: the history then has no
    #       ``skipped_steps`` column.


class Steps(Protocol):
    """Training and evaluation steps over one data set ``(x, y)``, as the shared loop drives them.

    A ``Steps`` may *defer* its results: a step queues work (on an accelerator) and returns at once;
    ``read()`` waits for everything queued and returns the running sums. Steps that defer keep the
    contract of ``Trainer.train_batch`` at every read: a step that diverged (``compiler.semantics.divergence``)
    is found there, the trainer and the sums are put back to just after the last good step (for example
    from a copy taken at the previous read, then replaying the good steps), and ``Diverged`` is raised with
    ``step_index``: the 0-based global step that diverged. Steps that do not defer raise it from ``train``.
    """

    def set_order(self, order: list[np.ndarray]) -> None:
        """The epoch's batches (``compiler.semantics.batch_order.batches``): ``train(b, ...)`` trains on
        ``order[b]``."""

    def reset(self, sums: dict) -> None:
        """Start the running sums from ``sums`` (a ``read()``'s value, or ``{}`` for zero)."""

    def train(self, b: int, step: int, lr: float) -> None:
        """One optimizer step at ``lr`` on batch ``b`` of the order; ``step``: the 0-based global step."""

    def evaluate(self, batch_size: int) -> None:
        """Add the inference-mode loss and metrics of the whole data set, in order, to the sums."""

    def read(self) -> dict[str, float]:
        """The running sums after every step so far: ``count`` (samples), ``loss_sum`` (Σ batch loss ×
        batch size, penalties included) and ``sum/<metric>`` for each of the spec's metrics."""


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None

    def column(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs if key in e]


@dataclass
class LoopEvents:
    """Callbacks for progress display; all optional. ``batch_end(batch, loss)``: ``loss`` is the epoch's running
    mean loss when the loop read it after this batch (at most every ``runtime.loop.READ_EVERY`` seconds), else
    None — reading it waits for an accelerator."""

    epoch_start: Callable[[int, int], None] = lambda epoch, steps: None
    batch_end: Callable[[int, float | None], None] = lambda batch, loss: None
    epoch_end: Callable[[int, dict], None] = lambda epoch, logs: None


@dataclass
class LoopState:
    """Where training stands: enough to continue exactly from here (see ``runtime.checkpoint``).

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
