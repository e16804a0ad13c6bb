"""``nnspec train SPEC``: train a spec (or a compiled IR .json) and write a run directory."""

from __future__ import annotations


import sys
from enum import Enum
from pathlib import Path
from typing import Iterable, Optional

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
    compiler's warnings, and silenced like them (``--ignore``, suppression comments). A model of several inputs
    or outputs is not judged here."""
    from compiler.ir.training import FileData
    from compiler.passes.input_scale import FeatureScale
    from compiler.passes.lint import unscaled_inputs_warning
    from compiler.passes.suppressions import suppressions_in
    from spec_lang.span import Source

    linted = run.options["data"] is None and source_text is not None
    if linted and not isinstance(run.spec.training.data, FileData):
        return
    if run.spec.multi_io:  # named arrays, one per input: the rule judges a model's one input
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
    from backends import BackendUnavailable
    from backends.devices import DeviceError
    from runtime.checkpoint import CheckpointError
    from runtime.data import DataError
    from runtime.files import WriteError
    from runtime.run_lock import RunDirInUse
    from runtime.session import prepare_run
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
    except (CheckpointError, DeviceError, DataError, BackendUnavailable, RunDirInUse, FileExistsError) as exc:
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


def run_training(run, *, quiet: bool, stop_requested: list) -> int:
    """Train (or continue) with ``runtime.session.train_run``, showing progress; returns the exit code.
    ``stop_requested`` is polled at every step boundary (``cli.stop_signals``). A checkpoint that cannot be
    written stops training with its ``WriteError`` reported (exit 74 when the disk failed) and the previous
    checkpoint intact."""
    from backends.contract import Interrupted
    from compiler.semantics.divergence import Diverged
    from runtime.checkpoint import FILENAME
    from runtime.session import train_run
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
                   f"{f', {d.n_val} for validation' if d.n_val else ''}; backend {o['backend']} on {placement}, "
                   f"{o['dtype']}{', deterministic' if o['deterministic'] else ''}, seed {t.seed}, {t.epochs} epochs of batch {t.batch_size}{resumed}, "
                   f"{o['threads']} thread{'s' if o['threads'] != 1 else ''}")
    resume_hint = resume_command(run.spec_path, run.run_dir, run.meta["overrides"])
    progress = TrainingProgress(t.epochs, quiet=quiet)
    events = progress.events()
    if o["track"]:
        events = tracking_events(events, run.trainer, spec, d)
    with progress:
        stopped = train_run(run, events=events, should_stop=lambda: bool(stop_requested))
    if isinstance(stopped, Interrupted):
        print(f"{run.spec_path}: {stopped}; checkpoint written. Continue with: {resume_hint}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if isinstance(stopped, Diverged):
        print(f"{run.spec_path}: error: training stopped at {stopped}; {stopped.saved} are saved", file=sys.stderr)
        return EXIT_DIVERGED
    if stopped is not None:  # a WriteError
        code = report_write_error(stopped)
        if (run.run_dir / FILENAME).exists():
            print(f"{run.spec_path}: the previous checkpoint is intact; once the file can be written, continue "
                  f"with: {resume_hint}", file=sys.stderr)
        return code
    return EXIT_OK


def write_outputs(run, source_text: str | None, code: int, stop_requested: list) -> int:
    """The run directory's final files, all or none (``runtime.session.finish_run``; ``run.json``, with
    the true outcome, last; ``tracking.png`` under ``--track``), and a last line on how the run ended;
    returns the exit code: ``code`` (that of the outcome recorded) or, when the write fails, that of the
    ``WriteError``. A stop asked for after the last step changes nothing: the run completed, and says so."""
    from runtime.checkpoint import FILENAME
    from runtime.files import WriteError
    from runtime.session import finish_run
    from cli.output import report_write_error
    from cli.resume import resume_command
    from cli.stop_signals import signal_name

    if run.write_failed:
        return code
    try:
        if run.options["track"] and run.epochs_done:
            from tools.diagnose_report import plot_tracking

            plot_tracking(run.run_dir / "tracking.png", run.epochs_done,
                          f"{run.spec.name}: per-layer statistics by epoch")
        final = finish_run(run, source_text)
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
