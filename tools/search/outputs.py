"""A study's final files: ``results.csv``, ``best.nns`` and the plots (written whenever a search ends,
also after Ctrl-C, and again by each ``--resume``).

``best.nns`` is the concrete spec of the best complete trial — the very text that trial trained
(``tools.search.objective.trial_text``: the point, ``--epochs``), with a comment naming the study, the
trial and its value — so that ``nnspec train best.nns`` with the study's backend, device, dtype, threads
and data reproduces the trial's weights and metrics exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from spec_lang.printable import printable
from tools.search.objective import TrialSettings, trial_comment, trial_text
from tools.search.plots import write_plots
from tools.search.results import best_trial, results_csv


@dataclass
class Written:
    best: object = None  # the best FrozenTrial, or None
    best_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def best_text(space, trial, settings: TrialSettings, direction: str) -> str:
    """The text of ``best.nns`` for ``trial`` (see the module docstring)."""
    comment = (f"{trial_comment(settings, trial.number)}\n"
               f"{settings.metric} = {trial.value:.6g} (the best of the study; {direction})")
    return trial_text(space, dict(trial.params), settings, trial.number, comment=comment,
                      written_to=Path(settings.out) / "best.nns")


def write_outputs(study, space, settings: TrialSettings, out: Path) -> Written:
    """Write ``results.csv``, ``best.nns`` (when a trial completed) and the plots into ``out``. ``best.nns``
    is the best complete trial whose parameters are a point of ``space`` (a trial added to the storage by
    something else is noted, never written). Raises ``runtime.files.WriteError``."""
    from runtime.files import write_file

    maximize = study.direction.name == "MAXIMIZE"
    trials = study.get_trials(deepcopy=False)
    order = [d.name for d in space.dimensions]
    write_file(Path(out) / "results.csv", results_csv(trials, maximize, order))
    strangers = _not_points(space, trials)
    written = Written(best=best_trial([t for t in trials if t.number not in strangers], maximize))
    written.notes.extend(f"trial {number}'s parameters are not a point of this space ({reason}): it is not a "
                         "candidate for best.nns" for number, reason in sorted(strangers.items())[:5])
    if written.best is not None:
        written.best_path = Path(out) / "best.nns"
        write_file(written.best_path, best_text(space, written.best, settings, study.direction.name.lower()))
    written.notes.extend(write_plots(study, out))
    return written


def _not_points(space, trials) -> dict[int, str]:
    """The complete trials whose parameters are not a point of ``space`` (a storage written by something
    else, or crafted), each with the reason (one line, at most 200 characters)."""
    from compiler.space import ParamsError

    strangers = {}
    for trial in trials:
        if trial.state.name != "COMPLETE":
            continue
        try:
            space.validate(dict(trial.params))
        except ParamsError as exc:
            strangers[trial.number] = printable(exc, 200)
    return strangers
