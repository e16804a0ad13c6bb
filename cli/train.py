"""``nnspec train SPEC``: train a spec (or a compiled IR .json) and write a run directory."""

from __future__ import annotations


import sys
import time
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Iterable, Optional

import typer

from cli.common import print_diagnostics, try_compile
from cli.exit_codes import EXIT_DIVERGED, EXIT_ERRORS, EXIT_INTERRUPTED, EXIT_OK
from cli.options import (Dtype, deterministic_option, device_option, ignore_option, threads_option,
                         tf32_option)


class Backend(str, Enum):
    numpy = "numpy"
    torch = "torch"
    keras = "keras"


class Mode(str, Enum):
    native = "native"
    canonical = "canonical"


def load_spec(path: Path, ignore: Iterable[str] = ()):
    """A spec file, or an IR written by `nnspec compile` (.json), as (spec, source text or None); (None, None),
    errors printed, when it fails. An IR file is untrusted input like a spec: ``compiler.ir_file.read_ir``
    validates every field and re-derives what the compiler guarantees. The warnings printed are those
    that neither ``ignore`` (``--ignore``) nor the spec's suppression comments silence."""
    if path.suffix == ".json":
        from compiler.ir_file import IRFileError, read_ir

        try:
            return read_ir(path), None
        except IRFileError as exc:
            print(f"{path}: error: {exc}", file=sys.stderr)
            return None, None
    result = try_compile(path, ignore)
    if result is None:
        return None, None
    print_diagnostics(result.warnings, result.source)
    return result.spec, result.source.text


def load_training_spec(path: Path, ignore: Iterable[str] = ()):
    """A spec (or IR) that has a train section, with its source text; errors printed and exit 2 otherwise."""
    spec, source_text = load_spec(path, ignore)
    if spec is None:
        raise typer.Exit(EXIT_ERRORS)
    if spec.training is None:
        fail(path, "the spec has no train section: add train { loss = ... optimizer = ... }")
    return spec, source_text


def fail(path: Path, message: str, code: int = EXIT_ERRORS) -> None:
    print(f"{path}: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def warn_unscaled_inputs(run, source_text: str | None, ignore: Iterable[str] = ()) -> None:
    """The ``unscaled-inputs`` lint on the training split actually loaded, where ``check`` could not judge
    it: a user's file, data given with --data, or an IR .json (which is not linted). Printed like the
    compiler's warnings, and silenced like them (``--ignore``, suppression comments)."""
    from compiler.ir.training import FileData
    from compiler.passes.input_scale import FeatureScale
    from compiler.passes.lint import unscaled_inputs_warning
    from compiler.passes.suppressions import suppressions_in
    from spec_lang.span import Source

    linted = run.options["data"] is None and source_text is not None
    if linted and not isinstance(run.spec.training.data, FileData):
        return
    found = unscaled_inputs_warning(run.spec, FeatureScale.of(run.dataset.x_train), run.dataset.name)
    source = Source(str(run.spec_path), source_text) if source_text is not None else None
    if found is not None:
        print_diagnostics(suppressions_in(source, ignore).keep([found]), source)


def tracking_events(events, trainer, spec, dataset):
    """Wrap the loop's events: after each epoch, measure the statistics of `nnspec diagnose` on one
    training batch and add them to that epoch's history entry (before it is shown and saved)."""
    from dataclasses import replace

    from tools.diagnose import diagnose, tracked

    def epoch_end(epoch, logs):
        logs.update(tracked(diagnose(trainer, spec, dataset.x_train, dataset.y_train, batches=1, seed=epoch)))
        events.epoch_end(epoch, logs)

    return replace(events, epoch_end=epoch_end)


def train(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="A spec file, or an IR .json from `nnspec compile`."),
    backend: Optional[Backend] = typer.Option(None, "--backend", "-b", help="Which backend trains it [default: "
                                              "numpy]."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set name or .npz/.csv path (overrides the spec)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs (overrides the spec)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Seed (overrides the spec)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<model>-<time>)."),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Precision: float32, float64, or a mixed policy "
                                          "(mixed_bfloat16, mixed_float16: float32 weights, bfloat16/float16 compute; "
                                          "torch and keras) [default: float32]."),
    mode: Optional[Mode] = typer.Option(None, "--mode", help="native: the framework's own initializers and random "
                                        "numbers; canonical: NumPy's initial weights and dropout masks (as `nnspec "
                                        "equiv`) [default: native]."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only warnings, errors and the final lines "
                               "(outcome, run directory): no progress bar, no line per epoch."),
    track: bool = typer.Option(False, "--track", help="Record per-layer activation variance and gradient norm "
                               "every epoch (history and tracking.png), as `nnspec diagnose` measures them."),
    resume: Optional[Path] = typer.Option(None, "--resume", metavar="RUN_DIR", help="Continue an interrupted run "
                                          "from its checkpoint, in its directory, with the options it was started "
                                          "with (--epochs may extend it; --checkpoint-every and --threads may "
                                          "change; other options must match)."),
    checkpoint_every: Optional[int] = typer.Option(None, "--checkpoint-every", min=1, metavar="STEPS",
                                                   help="Also checkpoint every STEPS optimizer steps (always at "
                                                   "the end of each epoch)."),
    threads: Optional[int] = threads_option(),
    device: Optional[str] = device_option(None),
    tf32: Optional[bool] = tf32_option(),
    deterministic: Optional[bool] = deterministic_option(),
    ignore: list[str] = ignore_option(),
) -> None:
    """Train a spec and write a run directory: spec, IR, weights (.npz), history (JSON, CSV), curves (PNG),
    and a checkpoint after every epoch.

    Same spec, seed and data give bit-identical weights and history. A loss that becomes NaN
    or infinite stops training (exit 3), naming the epoch, step and first bad layer, and the
    last good weights are saved. Ctrl-C or SIGTERM stops at the next step boundary with a
    checkpoint (exit 130); --resume RUN_DIR continues it, ending exactly as an uninterrupted run.
    One process writes a run directory at a time (a second is refused, exit 2); a file that
    cannot be written (disk full) is named, with exit 74, and the previous checkpoint kept.

    Examples:

      nnspec train specs/digits_mlp.nns

      nnspec train specs/digits_mlp.nns --epochs 5 --seed 1 --out runs/quick

      nnspec train specs/regression_mlp.nns --data my_data.csv

      nnspec train specs/vgg_cnn.nns --backend torch

      nnspec train specs/seed_cnn.nns --backend torch --device cuda --dtype mixed_bfloat16

      nnspec train specs/vgg_cnn.nns --resume runs/vgg_cnn-20261125-101500
    """
    from backends.devices import DeviceError
    from runtime.checkpoint import CheckpointError
    from runtime.files import WriteError
    from runtime.run_lock import RunDirInUse
    from cli.output import report_write_error
    from cli.stop_signals import deferred_stop_signals, interrupting_stop_signals

    spec, source_text = load_training_spec(spec_path, ignore)
    # every command-line option that changes what or how the run trains: recorded in each checkpoint
    overrides = {"backend": backend, "mode": mode, "dtype": dtype, "seed": seed, "data": data, "epochs": epochs,
                 "checkpoint_every": checkpoint_every, "track": track, "threads": threads, "device": device,
                 "tf32": tf32, "deterministic": deterministic}
    try:
        with interrupting_stop_signals() as early_stop:
            run = prepare_run(spec, spec_path, overrides, out=out, resume=resume)
    except (CheckpointError, DeviceError, RunDirInUse, FileExistsError) as exc:
        fail(spec_path, str(exc))
    except WriteError as exc:
        raise typer.Exit(report_write_error(exc)) from None
    warn_unscaled_inputs(run, source_text, ignore)
    try:
        # Ctrl-C/SIGTERM stop training at a step boundary and never cut the final write short
        with deferred_stop_signals() as stop_requested:
            stop_requested.extend(early_stop)  # one that a library swallowed while the run was prepared
            code = run_training(run, quiet=quiet, stop_requested=stop_requested)
            code = write_outputs(run, source_text, code, stop_requested)
    finally:
        run.lock.release()
    raise typer.Exit(code)


@dataclass
class Run:
    """One training session: the spec as trained, its data, trainer, directory and what happened."""

    spec: Any
    spec_path: Path
    options: dict
    dataset: Any
    trainer: Any
    run_dir: Path
    state: Any  # the LoopState to resume from, or None
    meta: dict  # what every checkpoint records about the run
    previous_seconds: float = 0.0  # training time before a resume
    lock: Any = None  # the run directory's RunDirLock, held until the command ends
    outcome: str = "completed"
    write_failed: bool = False  # a checkpoint could not be written: training stopped, nothing more is written
    history: Any = None
    epochs_done: list = field(default_factory=list)
    seconds: float = 0.0
    weights_step: int | None = None  # when training diverged: the steps the weights saved have had


def prepare_run(spec, spec_path: Path, overrides: dict, *, out, resume) -> Run:
    """Settle the options (those recorded in the checkpoint when resuming), load the data, build the
    trainer, and create and lock the run directory (or lock the one resumed).

    A resumed checkpoint is validated whole — metadata, weights, position, running sums, history,
    early stopping and trainer state, against the spec, the data and a fresh trainer — before the
    trainer takes any of it; nothing in the run directory changes when it is refused. Raises
    ``CheckpointError``, ``RunDirInUse``, ``FileExistsError`` (``--out`` not empty) or ``WriteError``
    with the lock (if any) given back."""
    from runtime.run_lock import lock_run_dir

    lock = None
    try:
        if resume is not None:
            from runtime.checkpoint import require_checkpoint

            require_checkpoint(resume)
            lock = lock_run_dir(resume)
        run = _prepare_locked(spec, spec_path, overrides, out=out, resume=resume, lock=lock)
    except BaseException:
        if lock is not None:
            lock.release(remove=True)
        raise
    return run


def _prepare_locked(spec, spec_path: Path, overrides: dict, *, out, resume, lock) -> Run:
    import numpy as np

    from backends import BackendUnavailable
    from compiler.semantics.precision import precision
    from runtime.trainers import make_trainer
    from runtime.checkpoint import FILENAME, CheckpointError, fingerprint, load_checkpoint
    from runtime.checkpoint_check import ResumeTarget, check_run_meta, check_weights, validate_checkpoint
    from runtime.data import DataError, describe_data, load_dataset
    from runtime.run_dir import create_run_dir
    from backends.threads import use_threads
    from cli.options import settle_device
    from cli.resume import plain, read_recorded, settle

    defaults = {"backend": Backend.numpy, "mode": Mode.native, "dtype": Dtype.float32}
    state = weights = trainer_state = None
    previous_seconds = 0.0
    recorded = plain(overrides)
    settings = dict(recorded)
    if resume is not None:
        path = resume / FILENAME
        state, weights, trainer_state, meta = load_checkpoint(resume)
        saved = check_run_meta(path, meta)
        previously = read_recorded(path, meta)
        # the fingerprint was taken with the run's --seed, if it had one
        as_run = spec.model_copy(update={"training": spec.training.model_copy(
            update={"seed": previously.get("seed", spec.training.seed)})})
        if saved.fingerprint != fingerprint(as_run):
            raise CheckpointError(f"{resume} was trained from another spec ({saved.model}); nothing was changed")
        settings = {"backend": saved.backend, "mode": saved.mode, "dtype": saved.dtype, "seed": saved.seed,
                    "data": saved.data_option, "track": previously.get("track", False)}
        recorded = settle(overrides, previously, settings, path=path,
                          started_epochs=state.epoch + (state.batch > 0))
        settings.update({k: v for k, v in recorded.items() if k not in settings})
        previous_seconds = saved.seconds
    options = {**{k: None for k in overrides}, **settings}
    options.update(backend=Backend(options.get("backend") or defaults["backend"]),
                   mode=Mode(options.get("mode") or defaults["mode"]),
                   dtype=Dtype(options.get("dtype") or defaults["dtype"]), track=bool(options.get("track")),
                   tf32=bool(options.get("tf32")), deterministic=bool(options.get("deterministic")))
    # the thread count changes the bits, so a resumed run keeps its own unless --threads is given anew
    recorded["threads"] = options["threads"] = use_threads(recorded.get("threads"))
    updates = {k: v for k, v in (("epochs", recorded.get("epochs")), ("seed", options.get("seed"))) if v is not None}
    if updates:
        spec = spec.model_copy(update={"training": spec.training.model_copy(update=updates)})
    dtype = np.dtype(precision(options["dtype"].value).variables)  # of the data, weights and optimizer state
    try:  # the device and precision first: nothing is loaded or written for one the backend cannot use
        options["device"], options["device_name"] = settle_device(options["backend"].value, options.get("device"),
                                                                  options["dtype"].value)
        dataset = load_dataset(spec, data=options["data"], base_dir=spec_path.parent, dtype=dtype)
        if weights is not None:  # the spec's weights, shapes, dtype, finite: before a trainer takes them
            check_weights(resume / FILENAME, "weight", weights, spec, dtype)
        trainer = make_trainer(options["backend"].value, spec, weights=weights, dtype=options["dtype"].value,
                               mode=options["mode"].value, adapt_on=dataset.x_train, device=options["device"],
                               tf32=options["tf32"], deterministic=options["deterministic"])
    except (DataError, BackendUnavailable) as exc:
        fail(spec_path, str(exc))
    if state is not None:
        template = trainer.state()
        target = ResumeTarget(spec=spec, dtype=dtype, epochs=spec.training.epochs, n_train=dataset.n_train)
        validate_checkpoint(resume / FILENAME, state, weights, trainer_state, target=target, template=template)
        if template is not None:
            trainer.load_state(trainer_state)
    data_text = describe_data(options["data"] or spec.training.data)
    run_dir = resume
    if resume is None:
        run_dir, lock = create_run_dir(out, spec.name)
    meta = {"fingerprint": fingerprint(spec), "model": spec.name, "backend": options["backend"].value,
            "mode": options["mode"].value, "dtype": options["dtype"].value, "seed": spec.training.seed,
            "data": data_text, "data_option": options["data"], "overrides": recorded}
    return Run(spec=spec, spec_path=spec_path, options=options, dataset=dataset, trainer=trainer, run_dir=run_dir,
               state=state, meta=meta, previous_seconds=previous_seconds, lock=lock)


def run_training(run: Run, *, quiet: bool, stop_requested: list) -> int:
    """Train (or continue), checkpointing every epoch; returns the exit code. ``stop_requested`` is
    polled at every step boundary (``cli.stop_signals``). A checkpoint that cannot be written
    stops training with its ``WriteError`` reported (exit 74 when the disk failed) and the previous
    checkpoint intact."""
    from runtime.checkpoint import FILENAME, save_checkpoint
    from runtime.files import WriteError
    from backends.contract import Interrupted, LoopState
    from compiler.semantics.divergence import Diverged
    from runtime.loop import fit
    from cli.options import describe_placement
    from cli.output import report_write_error
    from cli.progress import TrainingProgress
    from cli.resume import resume_command

    spec, t, d = run.spec, run.spec.training, run.dataset
    o = run.options
    resumed = f", resuming at epoch {run.state.epoch + 1} after step {run.state.step}" if run.state else ""
    if not quiet:
        placement = describe_placement(o["device"], o["device_name"], tf32=o["tf32"])
        typer.echo(f"training {spec.name} on {run.meta['data']}: {d.n_train} samples"
                   f"{f', {d.n_val} for validation' if d.n_val else ''}; backend {o['backend'].value} on {placement}, "
                   f"{o['dtype'].value}{', deterministic' if o['deterministic'] else ''}, seed {t.seed}, {t.epochs} epochs of batch {t.batch_size}{resumed}, "
                   f"{o['threads']} thread{'s' if o['threads'] != 1 else ''}")
    state = run.state or LoopState()
    track, checkpoint_every = run.options["track"], run.options.get("checkpoint_every")
    resume_hint = resume_command(run.spec_path, run.run_dir, run.meta["overrides"])

    def on_checkpoint(state):
        trainer_state = run.trainer.state()
        save_checkpoint(run.run_dir, state, weights=run.trainer.get_weights(), trainer_state=trainer_state,
                        meta={**run.meta, "seconds": run.previous_seconds + time.perf_counter() - start})

    progress = TrainingProgress(t.epochs, quiet=quiet)
    events = progress.events()
    if track:
        events = tracking_events(events, run.trainer, spec, d)
    start = time.perf_counter()
    code = EXIT_OK
    try:
        with progress:
            run.history = fit(run.trainer, spec, d.x_train, d.y_train, d.x_val, d.y_val, epochs=t.epochs, seed=t.seed,
                              events=events, resume=state, on_checkpoint=on_checkpoint,
                              checkpoint_every=checkpoint_every, should_stop=lambda: bool(stop_requested))
        run.epochs_done = run.history.epochs
        if run.history.stopped_early:
            run.outcome = f"stopped early after epoch {len(run.epochs_done)} (best: epoch {run.history.best_epoch})"
    except Interrupted as exc:
        run.epochs_done = exc.state.history.epochs
        run.outcome, code = f"interrupted: {exc}", EXIT_INTERRUPTED
        print(f"{run.spec_path}: {exc}; checkpoint written. Continue with: {resume_hint}", file=sys.stderr)
    except Diverged as exc:  # the weights and the final checkpoint are those after the last good step
        run.epochs_done, run.weights_step = state.history.epochs, exc.weights_step
        run.outcome, code = f"diverged: {exc}", EXIT_DIVERGED
        print(f"{run.spec_path}: error: training stopped at {exc}; {exc.saved} are saved", file=sys.stderr)
    except WriteError as exc:
        run.epochs_done = state.history.epochs
        run.outcome, run.write_failed = f"write failed: {exc}", True
        code = report_write_error(exc)
        if (run.run_dir / FILENAME).exists():
            print(f"{run.spec_path}: the previous checkpoint is intact; once the file can be written, continue "
                  f"with: {resume_hint}", file=sys.stderr)
    run.seconds = run.previous_seconds + time.perf_counter() - start
    return code


def write_outputs(run: Run, source_text: str | None, code: int, stop_requested: list) -> int:
    """The run directory's final files, all or none (``runtime.run_dir.write_run``; ``run.json``, with
    the true outcome, last), and a last line on how the run ended; returns the exit code: ``code``
    (that of the outcome recorded) or, when the write fails, that of the ``WriteError``. A stop
    asked for after the last step changes nothing: the run completed, and says so."""
    from runtime.checkpoint import FILENAME
    from runtime.files import WriteError
    from runtime.run_dir import write_run
    from cli.output import report_write_error
    from cli.resume import resume_command
    from cli.stop_signals import signal_name

    if run.write_failed:
        return code
    track = run.options["track"]

    spec, t, epochs_done = run.spec, run.spec.training, run.epochs_done
    info = {"spec": str(run.spec_path), "model": spec.name, "backend": run.meta["backend"], "mode": run.meta["mode"],
            "dtype": run.meta["dtype"], "seed": t.seed, "data": run.meta["data"],
            "train_samples": run.dataset.n_train, "validation_samples": run.dataset.n_val, "outcome": run.outcome,
            "seconds": run.seconds, "threads": run.options["threads"], "device": run.options["device"],
            "device_name": run.options["device_name"], "tf32": run.options["tf32"],
            "deterministic": run.options["deterministic"]}
    skipped = getattr(run.trainer, "skipped_steps", None)
    if skipped is not None:  # mixed_float16: the steps dynamic loss scaling skipped (overflow), in all
        info["skipped_steps"] = int(skipped)
    final = None
    if epochs_done:
        restored = t.early_stopping is not None and t.early_stopping.restore_best_weights and run.history is not None
        best = run.history.best_epoch if run.history is not None else None
        final = epochs_done[(best or len(epochs_done)) - 1] if restored else epochs_done[-1]
        info["weights_epoch"] = final["epoch"]
    if run.weights_step is not None:  # diverged: the weights are those of a step, not of an epoch's end
        info["weights_step"] = run.weights_step
        info.pop("weights_epoch", None)
        final = None
    try:
        if track and epochs_done:
            from tools.diagnose_report import plot_tracking

            plot_tracking(run.run_dir / "tracking.png", epochs_done, f"{spec.name}: per-layer statistics by epoch")
        write_run(run.run_dir, source_text=source_text or "", ir_json=spec.model_dump_json(indent=2),
                  weights=run.trainer.get_weights(), epochs=epochs_done, info=info,
                  title=f"{spec.name} ({run.meta['backend']})")
    except WriteError as exc:
        code = report_write_error(exc)
        if (run.run_dir / FILENAME).exists():
            print(f"{run.spec_path}: the run directory keeps its previous files and checkpoint; once the file can "
                  f"be written, finish with: {resume_command(run.spec_path, run.run_dir, run.meta['overrides'])}",
                  file=sys.stderr)
        return code
    if stop_requested and code != EXIT_INTERRUPTED:
        typer.echo(f"{signal_name(stop_requested[0])} arrived after the last step: the run had ended "
                   f"({run.outcome.split(':')[0]}) and its directory is complete", err=True)
    if final is not None:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in final.items()
                          if k not in ("epoch", "seconds", "learning_rate") and "/" not in k)
        typer.echo(f"{run.outcome}; weights of epoch {final['epoch']}: {shown}")
    typer.echo(f"run directory: {run.run_dir}")
    return code
