"""``nnspec diagnose SPEC``: activations and gradients layer by layer at initialization."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.options import device_option, ignore_option, threads_option
from cli.output import check_output, write_errors_exit
from cli.train import Backend, fail, load_training_spec


def diagnose(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="A spec file, or an IR .json."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set name or .npz/.csv path (overrides the spec)."),
    batches: int = typer.Option(4, "--batches", min=1, help="How many real batches to measure on."),
    backend: Backend = typer.Option(Backend.numpy, "--backend", "-b", help="Which backend measures."),
    compare_init: bool = typer.Option(False, "--compare-init", help="Also measure with each initializer family."),
    plot: Path = typer.Option(Path("diagnose.png"), "--plot", help="Where to write the per-layer plot (PNG)."),
    threads: Optional[int] = threads_option(),
    device: str = device_option(),
    ignore: list[str] = ignore_option(),
) -> None:
    """Measure, at initialization and on real batches, each layer's activation mean and variance,
    its output/input variance ratio and its gradient norm; flag vanishing or exploding gradients,
    saturated tanh/sigmoid units and dead ReLUs, and say what the guidelines suggest.

    Examples:

      nnspec diagnose specs/deep_tanh_mlp.nns

      nnspec diagnose specs/digits_mlp.nns --compare-init --plot init.png
    """
    import numpy as np

    from backends import BackendUnavailable
    from backends.devices import DeviceError, settle_device
    from cli.options import describe_placement
    from runtime.trainers import make_trainer
    from runtime.data import DataError, load_dataset
    from tools.diagnose import ALTERNATIVES, diagnose as measure, with_initializer
    from tools.diagnose_report import compare_table, plot_diagnosis, stats_table
    from backends.threads import use_threads

    spec, _ = load_training_spec(spec_path, ignore)
    use_threads(threads)
    check_output(plot)
    try:  # the device first: nothing is loaded for one the backend cannot use
        placed = settle_device(backend.value, device, "float64")
        dataset = load_dataset(spec, data=data, base_dir=spec_path.parent, dtype=np.float64)
        variants = {name: spec if alt is None else with_initializer(spec, alt[0], **alt[1])
                    for name, alt in (ALTERNATIVES.items() if compare_init else [("as written", None)])}
        results = {name: measure(make_trainer(backend.value, s, dtype=np.float64, mode="canonical",
                                              adapt_on=dataset.x_train, device=placed[0]), s,
                                 dataset.x_train, dataset.y_train, batches=batches)
                   for name, s in variants.items()}
    except (DataError, BackendUnavailable, DeviceError) as exc:
        fail(spec_path, str(exc))
    written = results["as written"]
    typer.echo(f"{spec.name} at initialization, {batches} batch(es) of {spec.training.batch_size} "
               f"({backend.value} on {describe_placement(*placed)}):")
    typer.echo(stats_table(written))
    typer.echo("")
    for flag in written.flags or ["no vanishing or exploding gradients, saturation or dead ReLUs found"]:
        typer.echo(f"{'warning' if written.flags else 'ok'}: {flag}")
    for suggestion in dict.fromkeys(written.suggestions):
        typer.echo(f"suggestion: {suggestion}")
    if compare_init:
        typer.echo("\nkernel gradient norm per layer under each initializer:")
        typer.echo(compare_table(results))
    with write_errors_exit():
        plot_diagnosis(plot, results, f"{spec.name} at initialization")
    typer.echo(f"\nplot: {plot}")
