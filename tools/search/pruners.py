"""The pruners of ``--pruner``: the training loop reports the trial's metric after every epoch the pruner
reads (step = the epoch, 1-based; ``first_reported_epoch``) and the pruner decides whether the trial
stops there (state PRUNED).

- ``median`` (default): ``MedianPruner`` — stop a trial whose best value so far is worse than the
  median of the other trials' values at the same epoch; never a trial that starts before the study has
  ``STARTUP_TRIALS`` complete trials (Optuna's default: TPE's first trials are random, and judging them is judging the noise), and
  never in a trial's first ``warmup_epochs(E)`` = max(1, E // 10) epochs of E (one epoch of 30 says
  little about the thirtieth);
- ``hyperband``: ``HyperbandPruner`` (successive halving brackets; min resource 1 epoch, max the
  trials' epochs);
- ``none``: ``NopPruner`` (every trial runs all its epochs).
"""

from __future__ import annotations

PRUNERS = ("median", "hyperband", "none")
STARTUP_TRIALS = 5


def warmup_epochs(epochs: int | None) -> int:
    """The epochs at the start of a trial of ``epochs`` epochs that the median pruner never prunes in."""
    return max(1, (epochs or 0) // 10)


def first_prunable_epoch(name: str | None, epochs: int | None, complete: int) -> int | None:
    """The first epoch at which pruner ``name`` may stop a trial of ``epochs`` epochs that starts when the
    study has ``complete`` complete trials; None: never. The trial asks the pruner (a storage read) only
    from then on. A trial that starts among the median pruner's startup trials is never pruned."""
    if name == "none" or (name == "median" and complete < STARTUP_TRIALS):
        return None
    if name == "median":
        return warmup_epochs(epochs) + 1
    return 1


def first_reported_epoch(name: str | None, epochs: int | None) -> int | None:
    """The first epoch whose metric a trial of ``epochs`` epochs reports to the study under pruner ``name``
    (None: none). A report is a storage write (~2 ms on SQLite, more on a server: 4–8% of a digits-MLP
    epoch), made only where a pruner reads it: the median pruner compares values at the epochs it may prune
    in (from ``warmup_epochs(E) + 1``, every trial's, the startup trials' included, since later trials are
    judged against them); Hyperband's rungs may fall on any epoch; ``none`` reads nothing."""
    if name == "none":
        return None
    if name == "median":
        return warmup_epochs(epochs) + 1
    return 1


def make_pruner(name: str, epochs: int | None = None):
    """The Optuna pruner ``name`` for trials of ``epochs`` epochs (None: unknown); ``ValueError`` for
    another name."""
    import optuna

    if name == "median":
        # MedianPruner prunes at steps >= n_warmup_steps; steps are 1-based epochs
        return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS,
                                           n_warmup_steps=warmup_epochs(epochs) + 1)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs or "auto")
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ValueError(f"--pruner {name}: expected one of {', '.join(PRUNERS)}")
