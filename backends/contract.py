"""The contract between a backend and the shared loop (``runtime.loop``): the ``Trainer`` protocol a
backend implements, and the loop-state types they exchange (what a checkpoint keeps).

A backend imports these, never the runtime: the loop drives a trainer, not the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Protocol

import numpy as np


class Trainer(Protocol):
    def train_batch(self, x: np.ndarray, y: np.ndarray, step: int, lr: float) -> tuple[float, np.ndarray]:
        """One optimizer step; returns (total loss, outputs). A step that diverges (``compiler.semantics.divergence``:
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
