"""Progress of ``nnspec search``: a line per finished trial and, on a terminal, a live status line
(trials done of asked, running, best value so far and its trial, pruned, failed); under ``--quiet``
nothing (the final summary says how the search ended)."""

from __future__ import annotations

from spec_lang.printable import printable
from tools.search.results import Tally, state_of, tally


def trial_line(trial, metric: str) -> str:
    state = state_of(trial)
    took = f"  ({trial.duration.total_seconds():.1f}s)" if trial.duration is not None else ""
    if state == "complete":
        return f"trial {trial.number} complete: {metric} {trial.value:.6g}{took}"
    if state == "pruned":
        epochs = max(trial.intermediate_values, default=0)
        return f"trial {trial.number} pruned after epoch {epochs}{took}"
    if state == "failed":
        return f"trial {trial.number} failed: {printable(str(trial.user_attrs.get('error', '')))}"
    return f"trial {trial.number} {state}"


def status_line(t: Tally, asked: int, metric: str, running: str = "") -> str:
    best = f"best {metric} {t.best_value:.6g} (trial {t.best_trial})" if t.best_trial is not None else "no best yet"
    return (f"{t.done}/{asked} trials done, {t.running} running{running}; {best}; {t.pruned} pruned, "
            f"{t.failed} failed")


def running_text(trials) -> str:
    """`` (trial 4 at epoch 3, trial 5 at epoch 1)``: the running trials and the last epoch each reported."""
    parts = [f"trial {t.number} at epoch {max(t.intermediate_values)}" for t in trials
             if state_of(t) == "running" and t.intermediate_values]
    return f" ({', '.join(parts)})" if parts else ""


class SearchProgress:
    """``update(trials)`` after each trial (one process) or every poll (``--jobs``): prints a line for
    each trial that finished since the last update, and refreshes the status line."""

    def __init__(self, asked: int, metric: str, maximize: bool, quiet: bool = False):
        from rich.console import Console

        self.asked, self.metric, self.maximize, self.quiet = asked, metric, maximize, quiet
        self.console = Console(stderr=False, markup=False, emoji=False)  # errors and labels print as they are
        self.live = None
        self.shown: set[int] = set()
        self.tally = Tally()
        self.running = ""
        self.others = False  # other worker processes share the study (--jobs): show their running trials

    def __enter__(self):
        if not self.quiet and self.console.is_terminal:
            from rich.live import Live
            from rich.spinner import Spinner

            self.live = Live(Spinner("dots", text="starting"), console=self.console, transient=True,
                             refresh_per_second=4)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)
        return False

    def skip(self, trials) -> None:
        """Trials finished before this process started (``--resume``): counted, not printed again."""
        self.shown.update(t.number for t in trials if state_of(t) not in ("running", "waiting"))

    def epoch(self, number: int, epoch: int, value: float | None) -> None:
        """Trial ``number`` (in this process) ended ``epoch`` with the metric at ``value``."""
        shown = f" {self.metric} {value:.4g}" if value is not None else ""
        self.running = f" (trial {number} at epoch {epoch}{shown})"
        self.tally.running = max(self.tally.running, 1)
        self._refresh()

    def _refresh(self) -> None:
        if self.live is not None:
            from rich.spinner import Spinner

            self.live.update(Spinner("dots", text=status_line(self.tally, self.asked, self.metric, self.running)))

    def update(self, trials, running_here: int | None = None) -> None:
        """Print the trials finished since the last update, refresh the status (``running_here``: the
        trial this process is training, whose epoch ``epoch`` shows, is not listed twice)."""
        self.tally = tally(trials, self.maximize)
        if running_here is None:
            self.running = running_text(trials)
        for trial in sorted(trials, key=lambda t: t.number):
            if trial.number in self.shown or state_of(trial) in ("running", "waiting", "surplus"):
                continue
            self.shown.add(trial.number)
            if not self.quiet:
                self.console.print(trial_line(trial, self.metric), highlight=False, soft_wrap=True)
        self._refresh()
