"""``nnspec lr-find SPEC``: the learning-rate range test, a plot, and a recommendation."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from cli.options import device_option, ignore_option, threads_option
from cli.output import check_output, write_errors_exit
from cli.train import Backend, fail, load_training_spec


def lr_find(
    spec_path: Path = typer.Argument(..., metavar="SPEC", help="A spec file, or an IR .json."),
    data: Optional[str] = typer.Option(None, "--data", help="Data set name or .npz/.csv path (overrides the spec)."),
    backend: Backend = typer.Option(Backend.numpy, "--backend", "-b", help="Which backend runs the test."),
    steps: int = typer.Option(200, "--steps", min=10, help="Steps from the smallest to the largest rate."),
    min_lr: float = typer.Option(1e-7, "--min-lr", help="The first rate."),
    max_lr: float = typer.Option(10.0, "--max-lr", help="The last rate."),
    plot: Path = typer.Option(Path("lr_find.png"), "--plot", help="Where to write loss against rate (PNG)."),
    threads: Optional[int] = threads_option(),
    device: str = device_option(),
    ignore: list[str] = ignore_option(),
) -> None:
    """Find a learning rate: from --min-lr, raise the rate exponentially each step (starting from
    the spec's initial weights; the spec is not changed), stop when the smoothed loss diverges,
    plot loss against rate, recommend a rate with its reasoning, and judge the spec's own rate.

    Examples:

      nnspec lr-find specs/digits_mlp.nns

      nnspec lr-find specs/vgg_cnn.nns --steps 100 --plot vgg_lr.png
    """
    import numpy as np

    from backends import BackendUnavailable
    from backends.devices import DeviceError, settle_device
    from cli.options import describe_placement
    from runtime.trainers import make_trainer
    from runtime.data import DataError, load_dataset
    from tools.lr_find import plot_range_test, range_test, report_lines
    from backends.threads import use_threads

    spec, _ = load_training_spec(spec_path, ignore)
    use_threads(threads)
    check_output(plot)
    if not 0 < min_lr < max_lr < float("inf"):  # NaN fails every comparison
        fail(spec_path, f"--min-lr must be positive and below --max-lr, both finite (received {min_lr:g} and "
                        f"{max_lr:g})")
    try:  # the device first: nothing is loaded for one the backend cannot use
        placed = settle_device(backend.value, device, "float32")
        dataset = load_dataset(spec, data=data, base_dir=spec_path.parent, dtype=np.float32)
        trainer = make_trainer(backend.value, spec, dtype=np.float32, mode="canonical", adapt_on=dataset.x_train,
                               device=placed[0])
    except (DataError, BackendUnavailable, DeviceError) as exc:
        fail(spec_path, str(exc))
    typer.echo(f"{spec.name}: learning-rate range test on {backend.value} on {describe_placement(*placed)}")
    result = range_test(trainer, spec, dataset.x_train, dataset.y_train, steps=steps, min_lr=min_lr, max_lr=max_lr)
    spec_rate = spec.training.optimizer.learning_rate
    with write_errors_exit():
        plot_range_test(plot, result, spec_rate,
                        f"{spec.name}: learning-rate range test ({spec.training.optimizer.kind})")
    for line in report_lines(result, spec_rate):
        typer.echo(line)
    typer.echo(f"plot: {plot}")
