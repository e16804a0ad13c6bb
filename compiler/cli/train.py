"""``nnspec train SPEC``: train a spec (or a compiled IR .json) and write a run directory."""

from __future__ import annotations


import sys
import time
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from compiler.cli.common import EXIT_ERRORS, print_diagnostics, try_compile

EXIT_DIVERGED = 3


class Backend(str, Enum):
    numpy = "numpy"
    torch = "torch"
    keras = "keras"


class Mode(str, Enum):
    native = "native"
    canonical = "canonical"


class Dtype(str, Enum):
    float32 = "float32"
    float64 = "float64"


def load_spec(path: Path):
    """A spec file, or an IR written by `nnspec compile` (.json); None (errors printed) when it fails."""
    if path.suffix == ".json":
        from pydantic import ValidationError

        from compiler.ir.spec import Spec

        try:
            return Spec.model_validate_json(path.read_bytes()), None
        except (OSError, ValidationError) as exc:
            print(f"{path}: error: not a compiled nnspec IR: {str(exc).splitlines()[0]}", file=sys.stderr)
            return None, None
    result = try_compile(path)
    if result is None:
        return None, None
    print_diagnostics(result.warnings, result.source)
    return result.spec, result.source.text


def fail(path: Path, message: str, code: int = EXIT_ERRORS) -> None:
    print(f"{path}: error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def tracking_events(events, trainer, spec, dataset):
    """Wrap the loop's events: after each epoch, measure the statistics of `nnspec diagnose` on one
    training batch and add them to that epoch's history entry (before it is shown and saved)."""
    from dataclasses import replace

    from backends.diagnose import diagnose, tracked

    def epoch_end(epoch, logs):
        logs.update(tracked(diagnose(trainer, spec, dataset.x_train, dataset.y_train, batches=1, seed=epoch)))
        events.epoch_end(epoch, logs)

    return replace(events, epoch_end=epoch_end)


def train(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="A spec file, or an IR .json from `nnspec compile`."),
    backend: Backend = typer.Option(Backend.numpy, "--backend", "-b", help="Which backend trains it."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set name or .npz/.csv path (overrides the spec)."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, help="Epochs (overrides the spec)."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="Seed (overrides the spec)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory (default: runs/<model>-<time>)."),
    dtype: Dtype = typer.Option(Dtype.float32, "--dtype", help="Floating-point precision."),
    mode: Mode = typer.Option(Mode.native, "--mode", help="native: the framework's own initializers and random "
                              "numbers; canonical: NumPy's initial weights and dropout masks (as `nnspec equiv`)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars; one line per epoch."),
    track: bool = typer.Option(False, "--track", help="Record per-layer activation variance and gradient norm "
                               "every epoch (history and tracking.png), as `nnspec diagnose` measures them."),
) -> None:
    """Train a spec and write a run directory: spec, IR, weights (.npz), history (JSON, CSV), curves (PNG).

    Same spec, seed and data give bit-identical weights and history. A loss that becomes NaN
    or infinite stops training (exit 3), naming the epoch, step and first bad layer, and the
    last good weights are saved.

    Examples:

      nnspec train specs/digits_mlp.nns

      nnspec train specs/digits_mlp.nns --epochs 5 --seed 1 --out runs/quick

      nnspec train specs/regression_mlp.nns --data my_data.csv

      nnspec train specs/vgg_cnn.nns --backend torch
    """
    import numpy as np

    from backends import BackendUnavailable, make_trainer
    from backends.data import DataError, describe_data, load_dataset
    from backends.loop import Diverged, fit
    from backends.run_dir import new_run_dir, write_run
    from compiler.cli.progress import TrainingProgress

    spec, source_text = load_spec(spec_path)
    if spec is None:
        raise typer.Exit(EXIT_ERRORS)
    if spec.training is None:
        fail(spec_path, "the spec has no train section: add train { loss = ... optimizer = ... }")
    updates = {k: v for k, v in (("epochs", epochs), ("seed", seed)) if v is not None}
    if updates:
        spec = spec.model_copy(update={"training": spec.training.model_copy(update=updates)})
    t = spec.training
    np_dtype = np.dtype(dtype.value)
    try:
        dataset = load_dataset(spec, data=data, base_dir=spec_path.parent, dtype=np_dtype)
    except DataError as exc:
        fail(spec_path, str(exc))
    try:
        trainer = make_trainer(backend.value, spec, dtype=np_dtype, mode=mode.value)
    except BackendUnavailable as exc:
        fail(spec_path, str(exc))
    try:
        run_dir = new_run_dir(out, spec.name)
    except FileExistsError as exc:
        fail(spec_path, str(exc))
    typer.echo(f"training {spec.name} on {describe_data(data or t.data)}: {dataset.n_train} samples"
               f"{f', {dataset.n_val} for validation' if dataset.n_val else ''}; backend {backend.value}, "
               f"{dtype.value}, seed {t.seed}, {t.epochs} epochs of batch {t.batch_size}")
    start = time.perf_counter()
    outcome, code = "completed", 0
    progress = TrainingProgress(t.epochs, quiet=quiet)
    events = progress.events()
    if track:
        events = tracking_events(events, trainer, spec, dataset)
    try:
        with progress:
            history = fit(trainer, spec, dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val,
                          epochs=t.epochs, seed=t.seed, events=events)
        epochs_done = history.epochs
        if history.stopped_early:
            outcome = f"stopped early after epoch {len(epochs_done)} (best: epoch {history.best_epoch})"
    except Diverged as exc:
        epochs_done = progress.completed
        outcome, code = f"diverged: {exc}", EXIT_DIVERGED
        print(f"{spec_path}: error: training stopped at {exc}; the last good weights are saved", file=sys.stderr)
    info = {"spec": str(spec_path), "model": spec.name, "backend": backend.value, "mode": mode.value,
            "dtype": dtype.value,
            "seed": t.seed, "data": describe_data(data or t.data), "train_samples": dataset.n_train,
            "validation_samples": dataset.n_val, "outcome": outcome, "seconds": time.perf_counter() - start}
    final = None
    if epochs_done:
        restored = t.early_stopping is not None and t.early_stopping.restore_best_weights and code == 0
        final = epochs_done[(history.best_epoch or len(epochs_done)) - 1] if restored else epochs_done[-1]
        info["weights_epoch"] = final["epoch"]
    write_run(run_dir, source_text=source_text or "", ir_json=spec.model_dump_json(indent=2),
              weights=trainer.get_weights(), epochs=epochs_done, info=info, title=f"{spec.name} ({backend.value})")
    if track and epochs_done:
        from backends.diagnose import plot_tracking

        plot_tracking(run_dir / "tracking.png", epochs_done, f"{spec.name}: per-layer statistics by epoch")
    if final is not None:
        shown = ", ".join(f"{k} {v:.4f}" for k, v in final.items()
                          if k not in ("epoch", "seconds", "learning_rate") and "/" not in k)
        typer.echo(f"{outcome}; weights of epoch {final['epoch']}: {shown}")
    typer.echo(f"run directory: {run_dir}")
    raise typer.Exit(code)



