"""The pruners of ``--pruner``: the training loop reports the trial's metric after every epoch (step =
the epoch, 1-based) and the pruner decides whether the trial stops there (state PRUNED).

- ``median`` (default): ``MedianPruner`` — stop a trial whose best value so far is worse than the
  median of the other trials' values at the same epoch; never during the first ``STARTUP_TRIALS``
  trials, never at epoch 1;
- ``hyperband``: ``HyperbandPruner`` (successive halving brackets; min resource 1 epoch, max the
  trials' epochs);
- ``none``: ``NopPruner`` (every trial runs all its epochs).
"""

from __future__ import annotations

PRUNERS = ("median", "hyperband", "none")
STARTUP_TRIALS = 3
WARMUP_EPOCHS = 1


def make_pruner(name: str, max_epochs: int | None = None):
    """The Optuna pruner ``name`` (``ValueError`` for another name)."""
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS, n_warmup_steps=WARMUP_EPOCHS)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=max_epochs or "auto")
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner {name}: expected one of {', '.join(PRUNERS)}")
