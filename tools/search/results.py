"""What a study's trials add up to: the counts, the best trial, the results table and ``results.csv``.

How trials count towards ``--trials N``: a complete trial, a pruned one, and a failed one (its run
failed: it diverged, did not fit, did not compile — user attr ``error``) count; a trial stopped by
Ctrl-C (user attr ``interrupted``), or one that a worker opened after the study already had its N
trials (user attr ``surplus``), or one whose process died (Optuna's heartbeat marks it failed) does not,
so a resumed study still gets N results. A running trial counts as taken while it runs.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass


def state_of(trial) -> str:
    """``complete`` | ``pruned`` | ``failed`` (a run that failed) | ``interrupted`` | ``surplus`` |
    ``running`` | ``waiting``."""
    name = trial.state.name
    if name == "FAIL" and "surplus" in trial.user_attrs:
        return "surplus"
    if name == "FAIL":
        return "failed" if "error" in trial.user_attrs else "interrupted"
    return name.lower()


def counted(trial) -> bool:
    """True when ``trial`` counts towards the trials asked (see the module docstring)."""
    return state_of(trial) in ("complete", "pruned", "failed")


def taken(trial) -> bool:
    """Counted, or running now: a place among the trials asked is taken."""
    return counted(trial) or state_of(trial) == "running"


@dataclass
class Tally:
    done: int = 0  # counted: complete + pruned + failed
    complete: int = 0
    pruned: int = 0
    failed: int = 0
    running: int = 0
    interrupted: int = 0
    best_value: float | None = None
    best_trial: int | None = None


def tally(trials, maximize: bool) -> Tally:
    """The counts of ``trials`` and the best complete value (the largest when ``maximize``)."""
    t = Tally()
    for trial in trials:
        state = state_of(trial)
        if state in ("complete", "pruned", "failed", "running", "interrupted"):
            setattr(t, state, getattr(t, state) + 1)
        if state == "complete" and trial.value is not None and math.isfinite(trial.value):
            if t.best_value is None or (trial.value > t.best_value if maximize else trial.value < t.best_value):
                t.best_value, t.best_trial = trial.value, trial.number
    t.done = t.complete + t.pruned + t.failed
    return t


def best_trial(trials, maximize: bool):
    """The complete trial with the best value (the first of equals), or None."""
    best = tally(trials, maximize).best_trial
    return next((t for t in trials if t.number == best), None)


FIXED_COLUMNS = ("trial", "state", "value", "duration_s", "run_dir", "error")


def column(name: str) -> str:
    """A parameter's column in the table and ``results.csv``: its name, or ``dim:NAME`` when a named
    dimension is called like a fixed column (``trial = choice(8, 16)``), so that neither hides the other
    (``:`` is in no dimension's name)."""
    return f"dim:{name}" if name in FIXED_COLUMNS else name


def _params(trials, order=()) -> list[str]:
    seen = dict.fromkeys(order)
    for trial in trials:
        seen.update(dict.fromkeys(trial.params))
    return [name for name in seen if any(name in t.params for t in trials)]


def param_names(trials, order=()) -> list[str]:
    """The columns (``column``) of every parameter any trial has: those of ``order`` (the space's
    dimensions) first, in that order."""
    return [column(name) for name in _params(trials, order)]


def rows(trials, maximize: bool, order=()) -> list[dict]:
    """One row per trial (running and interrupted ones too): trial, state, value, duration (s), every
    parameter ("" where the trial does not have it: an inactive conditional dimension), run_dir, error;
    sorted best first (complete trials by value, then pruned by their last value, then the rest by number)."""
    names = _params(trials, order)
    out = []
    for trial in trials:
        if state_of(trial) == "surplus":
            continue
        duration = trial.duration.total_seconds() if trial.duration is not None else None
        row = {"trial": trial.number, "state": state_of(trial), "value": trial.value,
               "duration_s": round(duration, 3) if duration is not None else None}
        row.update({column(name): trial.params.get(name, "") for name in names})
        row["run_dir"] = trial.user_attrs.get("run_dir", "")
        row["error"] = trial.user_attrs.get("error", "")
        out.append(row)
    rank = {"complete": 0, "pruned": 1, "failed": 2, "running": 3, "interrupted": 4, "waiting": 5}
    sign = -1.0 if maximize else 1.0

    def key(row):
        value = row["value"]
        has = value is not None and math.isfinite(value) and row["state"] in ("complete", "pruned")
        return (rank.get(row["state"], 9), sign * value if has else 0.0, row["trial"])

    return sorted(out, key=key)


def results_csv(trials, maximize: bool, order=()) -> str:
    """``results.csv``: the rows of ``rows`` (best first), a header line first; empty cells for None."""
    table = rows(trials, maximize, order)
    header = ["trial", "state", "value", "duration_s", *param_names(trials, order), "run_dir", "error"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    for row in table:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return buffer.getvalue()
