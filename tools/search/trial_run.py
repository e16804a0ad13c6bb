"""One trial of a search: one point's concrete spec trained as ``nnspec train --out RUN_DIR`` trains it.

``run_trial`` goes through the same training session as ``nnspec train`` (``runtime.session``: options,
data, trainer, run directory, checkpoints, final files), so the trial's directory holds what
``nnspec train SPEC --out RUN_DIR`` writes for the same text — ``spec.nns`` (the text), ``ir.json``,
``weights.npz``, ``history.json``/``.csv``, ``run.json``, ``checkpoint.npz`` — without the PNG plots
(``nnspec report RUN --plot FILE`` draws them later), and retraining the text with ``nnspec train`` (same
backend, device, data) gives the same weights and history bit for bit.

How a trial ends (``TrialOutcome.status``), never by an exception other than ``Interrupted``:

- ``"complete"``: every epoch trained, or early stopping ended it;
- ``"pruned"``: ``report(epoch, logs)`` returned True after an epoch; training stops there (at the next
  step boundary, with a checkpoint) and the run directory is complete, ``run.json``'s outcome
  ``pruned after epoch N``. A prune asked after the last epoch also counts: the pruner decides;
- ``"failed"``, ``error`` one line: the text does not compile (its first error), training diverged
  (``diverged at epoch E, step S: …``; the run directory written as train writes it, weights of the last good
  step), the point does not fit in memory (``out of memory: …``), the data set is refused (its size over the
  data budget, …), the device or backend cannot be used, a backend refuses the point (``ValueError``), or
  the run directory cannot be written. A failure before training leaves ``spec.nns`` and a ``run.json`` whose
  outcome is ``failed: <error>``.

``should_stop()`` (polled at every step boundary) interrupts the run as Ctrl-C interrupts ``nnspec
train``: a checkpoint, the final files with outcome ``interrupted: …``, then ``Interrupted`` is raised so
that the study can stop cleanly; ``nnspec train RUN_DIR/spec.nns --resume RUN_DIR`` continues the run. A
``KeyboardInterrupt`` raised inside the trial (no signal deferral by the caller) cannot stop at a step
boundary: the run directory keeps its last checkpoint and ``Interrupted`` is raised. A caller that wants
Ctrl-C to stop at a step boundary defers the signal and passes ``should_stop`` (``nnspec search`` does).

Nothing is printed: lints are not shown (``nnspec check`` shows them for the space), progress is the
caller's (``report``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

MAX_ERROR_CHARS = 500  # a failure's one line, as Optuna's user attrs and the results table keep it


@dataclass
class TrialOutcome:
    """How one trial ended (module docstring). ``epochs``: the history's per-epoch logs (as
    ``history.json``); ``kept_epoch``: the 1-based epoch whose weights the run keeps (the restored best
    epoch under ``restore_best_weights``, else the last; None when no epoch ended or training diverged);
    ``seconds``: the whole trial, preparation and final files included."""

    status: str  # "complete" | "pruned" | "failed"
    epochs: list[dict]
    kept_epoch: int | None
    error: str | None
    seconds: float
    run_dir: Path


def run_trial(spec_text: str, run_dir: Path, *, source_name: str, backend: str | None = None,
              device: str | None = None, data: str | None = None, threads: int | None = None, dtype=None,
              report: Callable[[int, dict], bool] | None = None,
              should_stop: Callable[[], bool] | None = None) -> TrialOutcome:
    """Train the concrete spec ``spec_text`` into the new run directory ``run_dir`` (absent or empty) and say
    how it ended (module docstring). ``source_name``: the path of the spec the text is a point of — ``run.json``
    names it and a relative data file is found from its directory. ``backend``, ``device``, ``data``,
    ``threads``, ``dtype``: as ``nnspec train``'s options (None: its defaults). ``report(epoch, logs)`` is
    called after each epoch (``epoch`` from 1, ``logs`` as the history's entry); True prunes the trial.
    Raises only ``backends.contract.Interrupted``."""
    from backends.contract import Interrupted, LoopEvents, LoopState
    from compiler.pipeline import compile_text
    from runtime.session import finish_run, kept_epoch_logs, prepare_run, train_run
    from spec_lang.diagnostics import SpecError

    start = time.perf_counter()
    run_dir = Path(run_dir)
    source_path = Path(source_name)

    def failed(error: str, epochs: list | None = None) -> TrialOutcome:
        return TrialOutcome("failed", epochs or [], None, _one_line(error), time.perf_counter() - start, run_dir)

    try:
        spec = compile_text(spec_text, str(run_dir / "spec.nns")).spec
    except SpecError as exc:
        error = _first_error(exc)
        _write_failure(run_dir, spec_text, source_name, error, time.perf_counter() - start)
        return failed(error)
    if spec.training is None:
        error = "the spec has no train section: add train { loss = ... optimizer = ... }"
        _write_failure(run_dir, spec_text, source_name, error, time.perf_counter() - start)
        return failed(error)

    overrides = {"backend": backend, "dtype": dtype, "data": data, "threads": threads, "device": device}
    try:
        run = prepare_run(spec, source_path, overrides, out=run_dir)
    except KeyboardInterrupt:
        raise Interrupted(LoopState()) from None
    except Exception as exc:  # noqa: BLE001 - a point the machine cannot train fails the trial, not the study
        error = _failure(exc)
        _write_failure(run_dir, spec_text, source_name, error, time.perf_counter() - start)
        return failed(error)

    pruned: list[int] = []  # the epoch after which report asked to prune
    seen = LoopState()  # how far training got, for an Interrupted raised by a KeyboardInterrupt

    def epoch_end(epoch: int, logs: dict) -> None:
        seen.epoch, seen.batch = epoch + 1, 0
        if report is not None and not pruned and report(epoch + 1, logs):
            pruned.append(epoch + 1)

    def batch_end(batch: int, loss) -> None:
        seen.batch, seen.step = batch + 1, seen.step + 1

    def stop() -> bool:
        return bool(pruned) or (should_stop is not None and should_stop())

    seen.step = run.state.step if run.state is not None else 0
    try:
        stopped = train_run(run, events=LoopEvents(batch_end=batch_end, epoch_end=epoch_end), should_stop=stop)
        asked_to_stop = should_stop is not None and isinstance(stopped, Interrupted) and should_stop()
        if isinstance(stopped, Interrupted) and not asked_to_stop:
            stopped = None  # the pruner's stop
        if pruned and not asked_to_stop:
            run.outcome = f"pruned after epoch {pruned[0]}"
        if not run.write_failed:
            finish_run(run, spec_text, plots=False)
    except KeyboardInterrupt:
        raise Interrupted(seen) from None
    except Exception as exc:  # noqa: BLE001 - out of memory, a backend refusing the point, a failed write
        return failed(_failure(exc), run.epochs_done)
    finally:
        run.lock.release()
    if isinstance(stopped, Interrupted):
        raise stopped
    if stopped is not None:  # Diverged, or a checkpoint that could not be written
        prefix = "diverged at " if run.weights_step is not None else ""
        return failed(prefix + _failure(stopped), run.epochs_done)
    kept = kept_epoch_logs(run)
    return TrialOutcome("pruned" if pruned else "complete", run.epochs_done, kept["epoch"] if kept else None,
                        None, time.perf_counter() - start, run_dir)


def _first_error(exc) -> str:
    """The first error of a ``SpecError``: its ``path:line:col: error: message`` line."""
    from spec_lang.diagnostics import render_diagnostics

    lines = render_diagnostics(exc.diagnostics[:1], exc.source)
    return lines[0].splitlines()[0] if lines else "the spec does not compile"


def _failure(exc: BaseException) -> str:
    """A failure's one line: what went wrong, in the words of the error (its type named when it is not
    one of nnspec's messages)."""
    from backends import BackendUnavailable
    from backends.devices import DeviceError
    from compiler.semantics.divergence import Diverged
    from runtime.data import DataError
    from runtime.files import WriteError
    from runtime.model_memory import is_out_of_memory
    from runtime.run_lock import RunDirInUse

    if is_out_of_memory(exc):
        return f"out of memory: {exc}"
    if isinstance(exc, WriteError):
        return f"{exc.path}: cannot write this file: {exc.reason}"
    if isinstance(exc, (Diverged, DataError, DeviceError, BackendUnavailable, RunDirInUse, FileExistsError)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _one_line(text: str) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= MAX_ERROR_CHARS else line[:MAX_ERROR_CHARS - 1] + "…"


def _write_failure(run_dir: Path, spec_text: str, source_name: str, error: str, seconds: float) -> None:
    """A trial that failed before training: ``spec.nns`` and a ``run.json`` saying so, when ``run_dir`` is
    new or empty and writable (otherwise nothing: the outcome carries the error)."""
    from runtime.files import WriteError, write_files
    from runtime.run_dir import create_run_dir
    from runtime.run_lock import RunDirInUse

    try:
        run_dir, lock = create_run_dir(run_dir, "trial")
    except (WriteError, RunDirInUse, FileExistsError):
        return
    try:
        info = {"spec": source_name, "outcome": f"failed: {_one_line(error)}", "seconds": seconds}
        write_files({run_dir / "spec.nns": spec_text, run_dir / "run.json": json.dumps(info, indent=2)})
    except WriteError:
        pass
    finally:
        lock.release()
