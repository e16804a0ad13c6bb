"""Optuna, silenced: the search shows its own progress, so Optuna's log lines (one per trial) and the
warnings of its experimental API (heartbeats, multivariate TPE, the matplotlib plots) are not printed."""

from __future__ import annotations

import warnings


def quiet_optuna() -> None:
    """Optuna logs errors only and its ``ExperimentalWarning``\\ s are ignored (idempotent)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
