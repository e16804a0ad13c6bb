"""The work of ``nnspec search SPEC`` (``cli/search.py`` holds its options): settle the options (from
``study.json`` under ``--resume``), open or create the study, run the trials in this process or in
``--jobs`` worker processes, show progress, and write the results whatever the ending (done, timeout,
Ctrl-C). Errors a user can cause are one line (or the spec's diagnostics) and exit 2."""

from __future__ import annotations

import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import typer

from cli.exit_codes import EXIT_ERRORS, EXIT_INTERRUPTED, EXIT_OK

DEFAULT_TRIALS = 20
SEED_MAX = 2**32 - 1  # NumPy's (and so Optuna's samplers') largest seed
POLL_S = 0.5


@dataclass
class SearchOptions:
    spec_path: Path | None
    trials: int | None = None
    timeout: float | None = None
    metric: str | None = None
    direction: str | None = None
    sampler: str | None = None
    pruner: str | None = None
    seed: int | None = None
    backend: str | None = None
    device: str | None = None
    data: str | None = None
    threads: int | None = None
    dtype: str | None = None
    epochs: int | None = None
    out: Path | None = None
    storage: str | None = None
    study_name: str | None = None
    jobs: int = 1
    resume: bool = False
    new_study: bool = False
    quiet: bool = False


def fail(message: str, code: int = EXIT_ERRORS) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def _load_space(spec_path: Path):
    """The spec's space and the base point's compiled spec; errors printed, exit 2."""
    from cli.common import load_space_or_exit, print_diagnostics
    from spec_lang.diagnostics import SpecError
    from tools.search.study import base_spec

    space = load_space_or_exit(spec_path)
    if not space:
        fail(f"{spec_path}: the spec has no search dimensions (nnspec train trains it; write choice(...), "
             "int_range(...), float_range(...), log_range(...) or optional(...) where a value may vary)")
    try:
        base = base_spec(space, spec_path)
    except SpecError as err:
        print_diagnostics(err.diagnostics, err.source)
        fail(f"{spec_path}: the space's base point (every dimension at its low or first option) does not "
             f"compile; nnspec check {spec_path} says where")
    if base.training is None:
        fail(f"{spec_path}: the spec has no train section: add train {{ loss = ... optimizer = ... }}")
    return space, base


def _capped_jobs(jobs: int) -> int:
    """``--jobs`` capped at ``max(4, 2 × the cores this process may use)``, with a note on stderr: each
    worker is a process holding its model and data, and workers beyond the cores only slow every trial
    (256 workers on 2 cores would exhaust the memory long before they finished anything)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    limit = max(4, 2 * cores)
    if jobs > limit:
        print(f"note: --jobs {jobs} capped to {limit}: this machine gives nnspec {cores} "
              f"core{'s' if cores != 1 else ''}, and more workers only slow every trial", file=sys.stderr)
        return limit
    return jobs


def _join_only_its_study(out: Path, study_name: str | None):
    """``out`` holds a study: a new search may only join it by its own name (``--study-name``, as the
    processes of one study started by hand do), in its own storage; another name would overwrite its
    study.json and results. Returns the study's ``StudyInfo``."""
    from tools.search.study_dir import StudyDirError, read_study_json

    if study_name is not None:
        try:
            recorded = read_study_json(out)
        except StudyDirError as exc:
            fail(str(exc))
        if recorded.study_name == study_name:
            return recorded
        fail(f"{out} holds the study {recorded.study_name!r}, not {study_name!r}: --resume continues it (or choose "
             "another --out)")
    fail(f"{out} already holds a study: --resume continues it (or choose another --out)")


def _foreign_directory(out: Path) -> bool:
    """Whether ``out`` is a directory that holds files but no study: neither ``study.json`` nor the
    ``study.db`` of a study another process is creating there (``--jobs`` by hand, same ``--out``)."""
    from tools.search.study_dir import STUDY_JSON

    if not out.is_dir() or (out / STUDY_JSON).exists() or (out / "study.db").exists():
        return False
    try:
        return any(out.iterdir())
    except OSError:
        return True


def _check_metric(metric: str, training, output_keys: tuple[str, ...] = ()) -> None:
    """``--metric`` must be a column the runs record (what early stopping could monitor; with several outputs
    each output's ``<key>_loss`` and metrics too); exit 2 otherwise."""
    from compiler.passes.training import monitorable
    from spec_lang.diagnostics import did_you_mean

    choices = monitorable(training, output_keys)
    if training.validation_split == 0:  # no validation data: no val_ column
        choices = [c for c in choices if not c.startswith("val_")]
    if metric not in choices:
        from spec_lang.printable import printable

        hint = did_you_mean(metric, choices)
        fail(f"--metric {printable(metric, 80)}: the runs do not record it; "
             f"{hint or 'they record ' + ', '.join(choices)}")


def run_search(o: SearchOptions) -> int:
    """Run the search of ``o``; returns the exit code."""
    from backends import BackendUnavailable
    from backends.devices import DeviceError, settle_device
    from cli.output import report_write_error
    from runtime.files import WriteError, write_file
    from tools.search.objective import TrialSettings
    from tools.search.pruners import make_pruner
    from tools.search.samplers import SamplerError, make_sampler
    from tools.search.storage import StorageError, absolute_url, default_url, mask
    from tools.search.study import (SearchError, SpaceChanged, open_or_create, resolve_direction,
                                    resolve_metric)
    from tools.search.study_dir import (STUDY_JSON, StudyDirError, StudyInfo, read_study_json,
                                        write_study_json)

    if o.study_name is not None:
        from tools.search.study_dir import StudyDirError, check_study_name

        try:
            check_study_name(o.study_name)
        except StudyDirError as exc:
            fail(f"--study-name: {exc}")
    o.jobs = _capped_jobs(o.jobs)
    prior = None
    if o.resume:
        if o.out is None:
            fail("--resume needs --out DIR, the study directory to continue")
        try:
            prior = read_study_json(o.out)
        except StudyDirError as exc:
            fail(str(exc))
    elif o.spec_path is None:
        fail("give a SPEC to search (or --show STUDY_DIR, or --out DIR --resume)")
    spec_path = o.spec_path or Path(prior.spec)
    space, base = _load_space(spec_path)

    def pick(name: str, default):
        given = getattr(o, name)
        if given is not None:
            return given
        return getattr(prior, name) if prior is not None else default

    metric = resolve_metric(o.metric or (prior.metric if prior else None), base.training)
    _check_metric(metric, base.training, base.output_keys)
    direction = resolve_direction(o.direction, metric) if (o.direction or prior is None) else prior.direction
    backend, device, dtype = pick("backend", "numpy"), pick("device", None), pick("dtype", None)
    sampler_name, pruner_name = pick("sampler", "tpe"), pick("pruner", "median")
    seed = pick("seed", base.training.seed)
    if not 0 <= seed <= SEED_MAX - (o.jobs - 1):
        fail(f"--seed {seed}: a sampler's seed is 0..{SEED_MAX:,} (worker i samples with seed + i)")
    epochs = pick("epochs", None)
    try:  # a device or precision the backend cannot use: refused before anything is written
        settle_device(backend, device, dtype or "float32")
    except (DeviceError, BackendUnavailable) as exc:
        fail(str(exc))
    out = o.out or Path("runs") / f"search-{base.name}-{time.strftime('%Y%m%d-%H%M%S')}"
    joined = _join_only_its_study(out, o.study_name) if prior is None and (out / STUDY_JSON).exists() else None
    if out.exists() and not out.is_dir():
        fail(f"{out}: --out is a file, not a directory")
    if prior is None and _foreign_directory(out):
        fail(f"{out}: --out holds files and no study (no {STUDY_JSON}): nnspec search writes a study only into a "
             "new or empty directory, never among other files; choose another --out")
    try:
        chosen = make_sampler(sampler_name, space, seed)
    except SamplerError as exc:
        fail(str(exc))
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"{out}: cannot create the study directory ({exc.strerror or exc})")
    trials = pick("trials", chosen.size if chosen.size is not None else DEFAULT_TRIALS)
    if chosen.size is not None:
        trials = min(trials, chosen.size)
    try:
        recorded = prior or joined  # the storage of the study continued or joined, else the default
        storage_url = absolute_url(o.storage) if o.storage else (recorded.storage_url(out) if recorded
                                                                   else default_url(out))
    except StudyDirError as exc:
        fail(str(exc))
    name = o.study_name or (prior.study_name if prior else out.resolve().name)
    info = StudyInfo(spec=str(spec_path), study_name=name,
                     storage="" if storage_url == default_url(out) else storage_url, sampler=sampler_name,
                     pruner=pruner_name, metric=metric, direction=direction, backend=backend, device=device,
                     seed=seed, trials=trials, fingerprint={}, epochs=epochs, data=pick("data", None),
                     threads=pick("threads", None), dtype=dtype, timeout=o.timeout, jobs=o.jobs,
                     previous_studies=list(recorded.previous_studies) if recorded else [],
                     trial_epochs=epochs or base.training.epochs)
    pruner = make_pruner(pruner_name, info.trial_epochs)
    previous_name = info.study_name
    try:
        if prior is not None and storage_url == default_url(out) and not (out / "study.db").is_file():
            fail(f"{out}: no study.db: the study's trials are not there, nothing to resume (a new search needs a "
                 "new --out)")
        study, info = open_or_create(info, storage_url, space, new_study=o.new_study, sampler=chosen.sampler,
                                     pruner=pruner, must_exist=prior is not None)
    except SpaceChanged as exc:
        print(f"error: {spec_path}: {exc}; what changed:", file=sys.stderr)
        for line in exc.lines:
            print(f"  {line}", file=sys.stderr)
        fail("nothing was run; --new-study continues as a new study in the same storage, or choose another --out")
    except (StorageError, SearchError) as exc:
        if created and not any(out.iterdir()):
            out.rmdir()  # nothing was written: no empty study directory either
        fail(str(exc))
    try:
        write_study_json(out, info)
        write_file(out / "space.nns", Path(spec_path).read_text(encoding="utf-8"))
    except WriteError as exc:
        return report_write_error(exc)
    settings = TrialSettings.of_study(info, out)  # as every --jobs worker reads it from study.json
    if not o.quiet:
        if info.study_name != previous_name:
            print(f"the space changed: continuing as the new study {info.study_name} in the same storage")
        for note in chosen.notes:
            print(f"note: {note}")
        from compiler.space_summary import describe_size

        print(f"searching {spec_path}: {len(space.dimensions)} dimensions, "
              f"{describe_size(space)}; {trials} trials, {sampler_name} sampler, "
              f"{pruner_name} pruner, {direction} {metric}; backend {backend}"
              f"{f' on {device}' if device else ''}; {o.jobs} worker{'s' if o.jobs != 1 else ''}; study "
              f"{info.study_name} in {mask(storage_url)}")
    return _run(study, space, settings, info, storage_url, o, out)


def _run(study, space, settings, info, storage_url: str, o: SearchOptions, out: Path) -> int:
    from cli.output import report_write_error
    from cli.search_progress import SearchProgress
    from cli.stop_signals import deferred_stop_signals
    from runtime.files import WriteError
    from tools.search.outputs import write_outputs

    maximize = info.direction == "maximize"
    progress = SearchProgress(info.trials, info.metric, maximize, quiet=o.quiet)
    start = time.perf_counter()
    problems: list[str] = []
    with deferred_stop_signals() as stops:
        with progress:
            progress.skip(study.get_trials(deepcopy=False))
            if o.jobs == 1:
                ended = _in_process(study, space, settings, info, progress, stops, problems)
            else:
                ended = _with_workers(study, space, settings, info, storage_url, o.jobs, out, progress, stops,
                                      problems)
            progress.update(study.get_trials(deepcopy=False))
        try:
            written = write_outputs(study, space, settings, out)
        except WriteError as exc:  # the trials are safe in the storage: --resume writes the files again
            code = report_write_error(exc)
            print(f"the trials are in the study's storage; nnspec search --out {out} --resume writes the "
                  "results again", file=sys.stderr)
            return code
    _summary(study, info, out, written, ended, time.perf_counter() - start)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if ended == "stopped":
        print(f"stopped; continue with: nnspec search {settings.spec_path} --out {out} --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_ERRORS if problems else EXIT_OK


def _in_process(study, space, settings, info, progress, stops, problems) -> str:
    """This process's trials (worker 0); how it ended."""
    from backends.contract import Interrupted
    from tools.search.objective import MetricMissing, Objective
    from tools.search.study import run_worker

    last_poll = [0.0]

    def on_epoch(number: int, epoch: int, value) -> None:
        progress.epoch(number, epoch, value)
        if progress.others and time.monotonic() - last_poll[0] >= POLL_S:  # the other workers' trials too
            last_poll[0] = time.monotonic()
            progress.update(study.get_trials(deepcopy=False), number)

    objective = Objective(space, settings, should_stop=lambda: bool(stops), on_epoch=on_epoch)
    try:
        return run_worker(study, space, objective, asked=info.trials, timeout=info.timeout,
                          should_stop=lambda: bool(stops),
                          on_trial=lambda s: progress.update(s.get_trials(deepcopy=False)))
    except (Interrupted, KeyboardInterrupt):
        return "stopped"
    except MetricMissing as exc:
        problems.append(str(exc))
        return "failed"


def _with_workers(study, space, settings, info, storage_url, jobs, out, progress, stops, problems) -> str:
    """``--jobs N``: this process is worker 0 (its modules already loaded) and N - 1 worker processes
    (``cli/search_worker.py``, workers 1..N-1) share the study; when this one's trials end it waits for
    theirs, showing progress; a stop reaches them all."""
    from tools.search.workers import fail_orphans, last_words, start_workers, stop_workers

    processes = start_workers(out, range(1, jobs), storage_url, module="cli.search_worker")
    progress.others = True
    ended = "done"
    try:
        ended = _in_process(study, space, settings, info, progress, stops, problems)
        while ended in ("done", "timeout") and any(p.poll() is None for p in processes):  # they finish theirs
            if stops:
                ended = "stopped"
                break
            fail_orphans(study, out, processes)  # a killed worker's trial: failed now, not running for ever
            progress.update(study.get_trials(deepcopy=False))
            time.sleep(POLL_S)
    finally:
        stop_workers(processes)
        fail_orphans(study, out, processes)
    stopped = (EXIT_INTERRUPTED, -signal.SIGINT, -signal.SIGTERM)
    if any(p.returncode in stopped for p in processes) and ended == "done":
        ended = "stopped"
    problems.extend(f"worker {i} exited with {p.returncode}: {last_words(out, i)}"
                    for i, p in zip(range(1, jobs), processes) if p.returncode not in (EXIT_OK, *stopped))
    return ended


def _summary(study, info, out: Path, written, ended: str, seconds: float) -> None:
    from tools.search.results import tally

    t = tally(study.get_trials(deepcopy=False), info.direction == "maximize")
    how = {"done": "", "timeout": " (timeout)", "stopped": " (stopped)", "failed": " (failed)"}.get(ended, "")
    print(f"search ended{how}: {t.done}/{info.trials} trials ({t.complete} complete, {t.pruned} pruned, "
          f"{t.failed} failed) in {seconds:.1f}s; results in {out / 'results.csv'}")
    best = written.best
    if best is None:
        print("no trial completed: no best.nns")
    else:
        from compiler.space.dimensions import show_label

        params = ", ".join(f"{k}={show_label(v)}" for k, v in best.params.items())  # as the spec writes them
        print(f"best {info.metric} {best.value:.6g} at trial {best.number} ({params}): {written.best_path}")
    for note in written.notes:
        print(f"note: {note}")
