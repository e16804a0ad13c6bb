"""Early stopping: Keras' ``EarlyStopping`` rule (keras/src/callbacks/early_stopping.py), with a
state a checkpoint keeps. ``mode="auto"`` is ``max`` when the monitored name contains ``acc``, else
``min``; an epoch improves when its value beats the best by more than ``min_delta``; training stops
after ``patience`` epochs without one (never after the first epoch)."""

from __future__ import annotations

import math
from typing import Callable

import numpy as np


def auto_mode(monitor: str) -> str:
    """``"max"`` when the metric named ``monitor`` is better larger (its name contains ``acc``), else
    ``"min"``: the direction of ``mode="auto"`` (and of ``nnspec search``'s default ``--direction``)."""
    return "max" if "acc" in monitor else "min"


class EarlyStopper:
    """Keras' EarlyStopping: stop after ``patience`` epochs without an improvement > min_delta."""

    def __init__(self, rule):
        self.rule = rule
        mode = rule.mode if rule.mode != "auto" else auto_mode(rule.monitor)
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
