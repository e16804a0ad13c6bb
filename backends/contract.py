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
    """What a backend's trainer provides; built as ``cls(spec, weights=None, *, dtype, seed, mode)``
    (``runtime.trainers.make_trainer``), ``mode`` one of ``backends.MODES``.

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

    @property
    def outputs_are_logits(self) -> bool:
        """The outputs ``train_batch`` returns are logits (the spec's ``from_logits``), for the metrics."""


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None

    def column(self, key: str) -> list[float]:
        return [e[key] for e in self.epochs if key in e]


@dataclass
class LoopEvents:
    """Callbacks for progress display; all optional."""

    epoch_start: Callable[[int, int], None] = lambda epoch, steps: None
    batch_end: Callable[[int, float], None] = lambda batch, loss: None
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
