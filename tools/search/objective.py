"""One trial of a search: a point of the space, trained as ``nnspec train`` trains it.

``Objective(trial)``: the space suggests a point through ``trial`` (define-by-run: only the active
dimensions are asked for, in source order); the point's concrete spec (``SearchSpace.concrete_text``,
with ``--epochs`` written in) is trained by ``tools.search.trial_run.run_trial`` into
``<out>/trials/NNNN``; after every epoch the monitored metric is reported to Optuna (step = the epoch)
and the pruner may stop the trial there. The trial's value is the metric at the epoch whose weights
the run keeps (the restored best epoch under ``restore_best_weights``, else the last), so that
``best.nns`` retrained gives that value again.

A run that fails (diverges, does not fit, does not compile) raises ``TrialFailed`` after recording its
one-line ``error`` in the trial's user attrs: the study marks the trial failed and goes on.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from tools.search.pruners import first_prunable_epoch, first_reported_epoch
from tools.search.results import taken
from tools.search.study_dir import TRIALS, StudyInfo, trial_dir, trials_folder


class TrialFailed(Exception):
    """The trial's run failed; the study records it (state FAIL, user attr ``error``) and continues."""


class Surplus(Exception):
    """The study already had its trials when this one was opened (another worker took the last place)."""


class MetricMissing(Exception):
    """The runs do not record the metric the search optimizes: the search cannot go on (one line).
    ``SpaceMismatch`` is one too: whatever ends every trial alike ends the search."""


class SpaceMismatch(MetricMissing):
    """The study's trials in the storage give a parameter another kind or range than the space does (a
    storage not written by nnspec search for this space): no trial can sample, the search cannot go on."""


@dataclass
class TrialSettings:
    """How every trial of a study runs (the options of ``nnspec search`` that reach ``run_trial``)."""

    out: Path
    spec_path: Path
    study_name: str
    metric: str
    asked: int
    backend: str = "numpy"
    device: str | None = None
    data: str | None = None
    threads: int | None = None
    dtype: str | None = None
    epochs: int | None = None
    pruner: str | None = None  # the study's pruner by name (``tools.search.pruners``); None: asked every epoch
    trial_epochs: int | None = None  # the epochs a trial trains, for the pruner's warm-up
    trials_dir: str = TRIALS  # where the trials' run directories go in ``out`` (``study_dir.trials_folder``)

    @classmethod
    def of_study(cls, info: StudyInfo, out: Path) -> "TrialSettings":
        """The settings of the study ``info`` (its study.json) in directory ``out``: what the search process
        and every ``--jobs`` worker run their trials with (a study.json written before ``trial_epochs``
        existed: the pruner's warm-up follows ``--epochs``)."""
        return cls(out=Path(out), spec_path=Path(info.spec), study_name=info.study_name, metric=info.metric,
                   asked=info.trials, backend=info.backend, device=info.device, data=info.data,
                   threads=info.threads, dtype=info.dtype, epochs=info.epochs, pruner=info.pruner,
                   trial_epochs=info.trial_epochs or info.epochs, trials_dir=trials_folder(info))


def with_epochs(text: str, epochs: int | None) -> str:
    """``text`` (a concrete spec) with its train section's ``epochs`` set to ``epochs`` (added when the
    spec has none), formatted; unchanged when ``epochs`` is None."""
    if epochs is None:
        return text
    from spec_lang import ast, parse
    from spec_lang.formatter import format_module

    module = parse(text)
    statements = []
    for statement in module.statements:
        if isinstance(statement, ast.TrainDef):
            settings = list(statement.settings)
            for i, setting in enumerate(settings):
                if setting.name == "epochs":
                    number = ast.Number(text=str(epochs), value=epochs, span=setting.value.span)
                    settings[i] = replace(setting, value=number)
                    break
            else:
                anchor = settings[-1] if settings else None
                span = anchor.span if anchor is not None else statement.span
                settings.append(ast.Setting(name="epochs", value=ast.Number(text=str(epochs), value=epochs, span=span),
                                            span=span, name_span=span))
            statement = replace(statement, settings=tuple(settings))
        statements.append(statement)
    return format_module(replace(module, statements=tuple(statements)))


def trial_comment(settings: TrialSettings, number: int) -> str:
    return f"nnspec search: study {settings.study_name}, trial {number}, a point of {settings.spec_path}"


def trial_text(space, point: dict, settings: TrialSettings, number: int, comment: str | None = None, *,
               written_to: Path) -> str:
    """The concrete spec trial ``number`` trains (and ``best.nns`` holds): the point, ``--epochs``, a comment,
    a relative data file's path written for the folder of ``written_to`` (the file the text goes to)."""
    text = space.concrete_text(point, comment=comment or trial_comment(settings, number), written_to=written_to)
    return with_epochs(text, settings.epochs)


def kept_value(epochs: list[dict], kept_epoch: int | None, metric: str) -> float | None:
    """The ``metric`` of the epoch whose weights the run keeps (1-based ``kept_epoch``, else the last)."""
    if not epochs:
        return None
    logs = epochs[(kept_epoch or len(epochs)) - 1]
    value = logs.get(metric)
    return None if value is None else float(value)


class Objective:
    """Optuna's objective for one worker: ``__call__(trial) -> value`` (see the module docstring).
    ``should_stop`` is polled by the training loop at every step; when it says stop, the run
    checkpoints and ``Interrupted`` leaves the trial (Optuna marks it failed; user attr ``interrupted``)."""

    def __init__(self, space, settings: TrialSettings, should_stop: Callable[[], bool] | None = None,
                 on_epoch: Callable[[int, int, float | None], None] | None = None):
        self.space = space
        self.settings = settings
        self.should_stop = should_stop
        self.on_epoch = on_epoch  # (trial number, epoch, metric value or None): for a progress display
        self.next_number: int | None = None  # the number the next trial gets if no other worker opens one first
        self.complete = 0  # complete trials when the next trial opens

    def expect(self, trials: list) -> None:
        """``trials`` are all the study's trials, counted (fewer taken than asked) just before the next trial
        opens: if that trial's number is ``len(trials)``, no other worker opened one since, and the count
        need not be read again (one storage read less per trial)."""
        self.next_number = len(trials)
        self.complete = sum(t.state.name == "COMPLETE" for t in trials)

    def __call__(self, trial) -> float:
        import optuna

        from backends.contract import Interrupted
        from tools.search.trial_run import run_trial

        s = self.settings
        if trial.number != self.next_number:  # another worker opened trials since the count: count again
            before = [t for t in trial.study.get_trials(deepcopy=False) if t.number < trial.number]
            if sum(taken(t) for t in before) >= s.asked:
                trial.set_user_attr("surplus", True)
                raise Surplus(f"the study already has its {s.asked} trials")
        self.next_number = None
        try:
            point = self.space.suggest(trial)
        except ValueError as exc:  # Optuna: "Cannot set different distribution ... to the same parameter name"
            message = (f"the study's trials in the storage sample the space otherwise ({str(exc)[:200]}): it was not "
                       "written by nnspec search for this space; choose another --out or --storage")
            trial.set_user_attr("error", message)
            raise SpaceMismatch(message) from None
        run_dir = trial_dir(s.out, trial.number, s.trials_dir)
        trial.set_user_attr("run_dir", run_dir.relative_to(s.out).as_posix())
        trial.set_user_attr("pid", os.getpid())  # whose trial it is: a --jobs worker that dies has it failed
        spec_file = run_dir / "spec.nns"  # the trial trains the spec it writes there, as `nnspec train` would
        run_dir.mkdir(parents=True, exist_ok=True)  # so that the data path relative to it resolves from the start
        text = trial_text(self.space, point, s, trial.number, written_to=spec_file)

        prune_from = first_prunable_epoch(s.pruner, s.trial_epochs, self.complete)
        report_from = first_reported_epoch(s.pruner, s.trial_epochs)

        def report(epoch: int, logs: dict) -> bool:
            value = logs.get(s.metric)
            if self.on_epoch is not None:
                self.on_epoch(trial.number, epoch, None if value is None else float(value))
            if report_from is None or epoch < report_from or value is None or not math.isfinite(float(value)):
                return False
            trial.report(float(value), epoch)
            return prune_from is not None and epoch >= prune_from and trial.should_prune()

        try:
            outcome = run_trial(text, run_dir, source_name=str(spec_file), backend=s.backend, device=s.device,
                                data=s.data, threads=s.threads, dtype=s.dtype, report=report,
                                should_stop=self.should_stop)
        except (Interrupted, KeyboardInterrupt):
            trial.set_user_attr("interrupted", True)
            raise
        if outcome.status == "failed":
            error = outcome.error or "the run failed"
            trial.set_user_attr("error", error)
            raise TrialFailed(error)
        if outcome.epochs and s.metric not in outcome.epochs[0]:
            known = ", ".join(k for k in outcome.epochs[0] if k not in ("epoch", "seconds", "learning_rate"))
            message = f"--metric {s.metric}: the runs do not record it (they record: {known})"
            trial.set_user_attr("error", message)
            raise MetricMissing(message)
        if outcome.status == "pruned":
            raise optuna.TrialPruned(f"pruned after epoch {len(outcome.epochs)}")
        value = kept_value(outcome.epochs, outcome.kept_epoch, s.metric)
        if value is None or not math.isfinite(value):
            error = f"{s.metric} is {value} at the epoch kept"
            trial.set_user_attr("error", error)
            raise TrialFailed(error)
        return value
