"""``nnspec equiv SPEC``: train on several backends in canonical mode and prove they agree."""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from cli.exit_codes import EXIT_FINDINGS, EXIT_OK
from cli.options import device_option, ignore_option, threads_option
from cli.output import write_errors_exit
from cli.train import fail, load_training_spec


class Dtype(str, Enum):
    """The precisions canonical equivalence is proven in (a mixed policy's bfloat16/float16 round-off is
    not an agreement to a tolerance)."""

    float64 = "float64"
    float32 = "float32"


def equiv(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="A spec file, or an IR .json."),
    backends: str = typer.Option("numpy,torch,keras", "--backends", help="Comma-separated; the first is the "
                                 "reference."),
    steps: int = typer.Option(50, "--steps", min=1, help="Optimizer steps to compare."),
    dtype: Dtype = typer.Option(Dtype.float64, "--dtype", help="float64 (tolerance 1e-9) or float32 (1e-4)."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set name or .npz/.csv path (overrides the spec)."),
    tolerance: Optional[float] = typer.Option(None, "--tolerance", help="Relative tolerance (default by dtype)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Where to write losses.png and equiv.json "
                                       "(default: runs/equiv-<model>-<time>)."),
    all_steps: bool = typer.Option(False, "--all-steps", help="A table row for every step."),
    threads: Optional[int] = threads_option(),
    device: str = device_option(),
    ignore: list[str] = ignore_option(),
) -> None:
    """Train SPEC for --steps steps on each backend with the same initial weights, batches and
    dropout masks, and compare: per-step loss, largest weight difference per layer, and the
    first step and layer where two backends part. Exit 1 when they part beyond tolerance; 0 when
    they agree, also on where training diverges (every backend stopping at the same step and layer).
    --device places the backends that can use one (torch, keras); NumPy, the reference, always runs
    on the CPU. Canonical runs on a GPU use deterministic algorithms only.

    Examples:

      nnspec equiv specs/digits_mlp.nns

      nnspec equiv specs/vgg_cnn.nns --backends numpy,torch --steps 20

      nnspec equiv specs/digits_mlp.nns --backends numpy,torch --device cuda

      nnspec equiv specs/seed_cnn.nns --data images.npz --dtype float32
    """
    import numpy as np

    from backends import BACKENDS, BackendUnavailable, require
    from backends.devices import DeviceError, settle_device
    from cli.options import describe_placement
    from runtime.data import DataError, load_dataset
    from tools.equiv import compare, run_canonical, tolerance_for
    from tools.equiv_report import loss_table, plot_losses, weight_table
    from runtime.files import write_file
    from runtime.run_dir import check_new_run_dir, create_run_dir
    from runtime.run_lock import RunDirInUse
    from backends.threads import use_threads

    names = [b.strip() for b in backends.split(",") if b.strip()]
    unknown = [b for b in names if b not in BACKENDS]
    if unknown or not names:
        fail(spec_path, f"unknown backend {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    if len(set(names)) != len(names):
        fail(spec_path, f"--backends names a backend more than once ({', '.join(names)}); name each once")
    if tolerance is not None and not 0 < tolerance < float("inf"):  # NaN fails every comparison
        fail(spec_path, f"--tolerance must be a positive number (received {tolerance:g})")
    spec, _ = load_training_spec(spec_path, ignore)
    threads = use_threads(threads)
    try:
        with write_errors_exit():
            check_new_run_dir(out)
    except FileExistsError as exc:
        fail(spec_path, str(exc))
    try:
        for name in names:
            require(name)
        # NumPy is the reference and runs on the CPU whatever --device says; the others where it says
        placed = {name: settle_device(name, "cpu" if name == "numpy" else device, dtype.value) for name in names}
        dataset = load_dataset(spec, data=data, base_dir=spec_path.parent, dtype=np.dtype(dtype.value))
    except (BackendUnavailable, DataError, DeviceError) as exc:
        fail(spec_path, str(exc))
    tol = tolerance if tolerance is not None else tolerance_for(dtype.value)
    where = ", ".join(f"{name} on {describe_placement(*placed[name])}" for name in names)
    typer.echo(f"{spec.name}: {steps} steps of batch {spec.training.batch_size}, {dtype.value}, canonical mode, "
               f"tolerance {tol:g}: {where}")
    traces = [run_canonical(name, spec, dataset.x_train, dataset.y_train, steps=steps, dtype=dtype.value,
                            device=placed[name][0])
              for name in names]
    results = {t.backend: compare(t, traces[0], tol) for t in traces[1:]}
    typer.echo(loss_table(traces, all_steps))
    for t in traces:
        if t.stopped is not None:
            typer.echo(f"{t.backend}: training diverged at step {t.stopped.step}: {t.stopped}")
    if len(traces) > 1:
        typer.echo("")
        typer.echo(weight_table(traces, results))
    report = {"spec": str(spec_path), "steps": steps, "dtype": dtype.value, "tolerance": tol, "threads": threads,
              "devices": {name: placed[name][0] for name in names},
              "device_names": {name: placed[name][1] for name in names},
              "losses": {t.backend: t.losses for t in traces},
              "stopped": {t.backend: {"step": t.stopped.step, "layer": t.stopped.layer, "message": str(t.stopped)}
                          for t in traces if t.stopped is not None},
              "diverged": {b: {"step": r.step, "layer": r.layer, "max_loss_error": r.loss_error,
                               "weight_errors": r.weight_errors} for b, r in results.items()}}
    try:
        with write_errors_exit():
            run_dir, lock = create_run_dir(out, f"equiv-{spec.name}")
    except (FileExistsError, RunDirInUse) as exc:
        fail(spec_path, str(exc))
    with lock, write_errors_exit():
        plot_losses(run_dir / "losses.png", traces, f"{spec.name}: {', '.join(names)} ({dtype.value})")
        write_file(run_dir / "equiv.json", json.dumps(report, indent=2))
    typer.echo(f"\nplot and report: {run_dir}")
    parted = {b: r for b, r in results.items() if r.step is not None or r.layer is not None}
    for backend, r in parted.items():
        where = f"step {r.step + 1}" if r.step is not None else "the final weights"
        layer = f", first in layer '{r.layer}'" if r.layer else ""
        print(f"{spec_path}: error: {backend} diverges from {names[0]} beyond {tol:g} at {where}{layer}",
              file=sys.stderr)
    if not parted and len(traces) > 1:
        worst = max(max(r.loss_error, *r.weight_errors.values()) for r in results.values())
        typer.echo(f"equivalent: largest relative difference {worst:.2e} (tolerance {tol:g})")
    raise typer.Exit(EXIT_FINDINGS if parted else EXIT_OK)
