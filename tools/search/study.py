"""A search's study: its settings resolved, created or joined in its storage, and one worker's trials.

- ``resolve_metric``: the value a trial reports — ``--metric``, else the spec's early-stopping monitor,
  else ``val_loss`` when the spec holds out a validation split, else ``loss``; ``resolve_direction``:
  ``--direction``, else ``compiler.semantics.early_stopping.auto_mode`` of the metric (max for
  accuracy-like names, min for losses).
- ``open_or_create``: the study named ``info.study_name`` in the storage is created (recording the
  space's fingerprint, the metric and the spec in its user attrs) or joined — only when its fingerprint
  is the space's: a changed space is refused with what changed (``SpaceChanged``), or, with
  ``new_study``, continued as a new study (``<name>-2``, ``-3``, …) in the same storage.
- ``run_worker``: one process's share of the trials: it opens trials until the study has ``asked``
  trials taken (``tools.search.results``), the timeout has passed, or a stop is asked for.
  Worker ``index`` samples with seed ``seed + index``: one worker with a seed repeats the same trials.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from tools.search.study_dir import StudyInfo


class SearchError(Exception):
    """A search that cannot start or go on, for a reason the user can fix (one line)."""


class SpaceChanged(Exception):
    """The study in the storage searched another space; ``lines`` say what changed."""

    def __init__(self, name: str, lines: list[str]):
        super().__init__(f"the study {name!r} searched another space")
        self.lines = lines


def base_spec(space, spec_path: Path):
    """The compiled spec (IR) of the space's base point (every dimension at its low / first option);
    ``SpecError`` when it does not compile (``nnspec check`` says where)."""
    from compiler.pipeline import compile_text

    point = space.extremes()[0] if space else {}
    return compile_text(space.concrete_text(point), path=str(spec_path)).spec


def resolve_metric(metric: str | None, training) -> str:
    if metric:
        return metric
    if training.early_stopping is not None:
        return training.early_stopping.monitor
    return "val_loss" if training.validation_split > 0 else "loss"


def resolve_direction(direction: str | None, metric: str) -> str:
    """``"minimize"`` | ``"maximize"``: ``direction`` (min|max) or the metric's own (``auto_mode``)."""
    from compiler.semantics.early_stopping import auto_mode

    mode = direction or auto_mode(metric)
    return "maximize" if mode == "max" else "minimize"


def open_or_create(info: StudyInfo, storage_url: str, space, *, new_study: bool = False, sampler=None,
                   pruner=None, must_exist: bool = False):
    """The study (``optuna.Study``, sampling with ``sampler``, pruned by ``pruner``) of ``info`` in
    ``storage_url`` and ``info`` as it now is (the name changes under ``new_study``). Raises
    ``SpaceChanged``, ``SearchError``, ``StorageError``; ``SearchError`` too when ``must_exist`` (``--resume``)
    and the storage holds no such study (a resumed study is never silently begun again)."""
    import optuna

    from compiler.space import SearchSpace
    from tools.search.storage import open_storage

    storage = open_storage(storage_url)
    fingerprint = space.fingerprint()
    name = info.study_name
    existing = _load(storage, name, sampler, pruner)
    if existing is None and must_exist:
        from tools.search.storage import mask

        raise SearchError(f"the storage {mask(storage_url)} holds no study named {name!r}: nothing to resume "
                          "(its trials are not there; a new search needs a new --out)")
    if existing is not None:
        recorded = _recorded_fingerprint(existing)
        if recorded != fingerprint:
            if not new_study:
                lines = space_changes(SearchSpace, recorded, fingerprint)
                raise SpaceChanged(name, lines)
            info.previous_studies = [*info.previous_studies, name]
            name = _free_name(storage, name)
            existing = None
        else:
            _check_same(existing, info)
    if existing is None:
        try:
            study = optuna.create_study(study_name=name, storage=storage, direction=info.direction,
                                        sampler=sampler, pruner=pruner)
        except optuna.exceptions.DuplicatedStudyError:  # another process created it just now: join it
            return open_or_create(info, storage_url, space, new_study=False, sampler=sampler, pruner=pruner)
        study.set_user_attr("fingerprint", fingerprint)
        study.set_user_attr("metric", info.metric)
        study.set_user_attr("spec", str(info.spec))
        study.set_user_attr("trials", info.trials)
    else:
        study = existing
    info.study_name = name
    info.fingerprint = fingerprint
    return study, info


def space_changes(space_class, recorded, fingerprint: dict) -> list[str]:
    """What changed from the ``recorded`` fingerprint (the storage's: anything at all in a crafted one) to
    ``fingerprint``, one line each."""
    if not recorded:
        return ["the study records no search space (it was not made by nnspec search)"]
    try:
        if isinstance(recorded, dict):
            return space_class.differences(recorded, fingerprint)
    except (TypeError, KeyError, AttributeError, ValueError, IndexError):
        pass
    return ["the study records a search space that nnspec search did not write"]


def _recorded_fingerprint(study, wait_s: float = 10.0) -> dict | None:
    """The fingerprint ``study`` records; a study another process has just created records it a moment
    after creating it, so an absent one is awaited up to ``wait_s`` seconds (None after that)."""
    deadline = time.monotonic() + wait_s
    while True:
        recorded = study.user_attrs.get("fingerprint")
        if recorded is not None or time.monotonic() >= deadline:
            return recorded
        time.sleep(0.2)


def _load(storage, name: str, sampler=None, pruner=None):
    import optuna

    try:
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)
    except KeyError:
        return None


def _free_name(storage, name: str) -> str:
    """``name-2``, ``name-3``, …: the first name no study in ``storage`` has."""
    taken = {s.study_name for s in storage.get_all_studies()}
    stem, i = name, 2
    while f"{stem}-{i}" in taken:
        i += 1
    return f"{stem}-{i}"


def _check_same(study, info: StudyInfo) -> None:
    """A study joined must optimize the same metric in the same direction."""
    direction = study.direction.name.lower()
    if direction != info.direction:
        raise SearchError(f"the study {study.study_name!r} {direction}s its metric; --direction asks to "
                          f"{info.direction} it")
    metric = study.user_attrs.get("metric")
    if metric is not None and metric != info.metric:
        raise SearchError(f"the study {study.study_name!r} optimizes {metric}; --metric asks for {info.metric}")


def run_worker(study, space, objective, *, asked: int, timeout: float | None = None,
               should_stop: Callable[[], bool] = lambda: False,
               on_trial: Callable[[object], None] | None = None) -> str:
    """Run trials of ``study`` in this process until it has ``asked`` trials taken, ``timeout`` seconds
    have passed (a trial running then finishes), or ``should_stop()``; returns how it ended:
    ``"done"``, ``"timeout"`` or ``"stopped"``. A stop during a trial raises ``Interrupted`` (the trial
    is recorded as interrupted). ``MetricMissing`` ends the search (raised)."""
    from tools.search.objective import Surplus, TrialFailed
    from tools.search.results import taken

    import optuna

    from tools.search.quiet import quiet_optuna

    quiet_optuna()
    start = time.monotonic()
    # a trial whose process died (killed, machine lost) stops beating: failed now, its place free again
    optuna.storages.fail_stale_trials(study)
    while True:
        if should_stop():
            return "stopped"
        if timeout is not None and time.monotonic() - start >= timeout:
            return "timeout"
        trials = study.get_trials(deepcopy=False)
        if sum(taken(t) for t in trials) >= asked:
            return "done"
        if hasattr(objective, "expect"):
            objective.expect(trials)
        study.optimize(objective, n_trials=1, catch=(TrialFailed, Surplus))
        if on_trial is not None:
            on_trial(study)
