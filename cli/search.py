"""``nnspec search SPEC``: search a spec's space with Optuna; ``--show STUDY_DIR`` shows a study."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Optional

import typer

from cli.exit_codes import EXIT_ERRORS, EXIT_OK
from cli.options import Dtype, device_option, threads_option
from cli.train import Backend

class Direction(str, Enum):
    min = "min"
    max = "max"


class Sampler(str, Enum):
    tpe = "tpe"
    random = "random"
    grid = "grid"
    cmaes = "cmaes"


class Pruner(str, Enum):
    median = "median"
    hyperband = "hyperband"
    none = "none"


def fail(message: str, code: int = EXIT_ERRORS) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(code)


def search(
    spec_path: Optional[Path] = typer.Argument(None, metavar="SPEC", help="A spec with search dimensions (not "
                                               "needed with --show, nor with --resume)."),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", min=1, max=2**62, help="Trials in total, complete, pruned "
                                         "or failed [default: 20; grid: the grid's size]."),
    timeout: Optional[float] = typer.Option(None, "--timeout", min=0, metavar="SECONDS", help="Start no trial "
                                            "after SECONDS (the trials running then finish)."),
    metric: Optional[str] = typer.Option(None, "--metric", help="What a trial scores: a history column "
                                         "[default: the spec's early-stopping monitor, else val_loss, else loss]."),
    direction: Optional[Direction] = typer.Option(None, "--direction", help="Minimize or maximize the metric "
                                                  "[default: max for accuracy, min otherwise]."),
    sampler: Optional[Sampler] = typer.Option(None, "--sampler", help="Optuna's TPE, random, grid (every point "
                                              "of a finite space) or CMA-ES [default: tpe]."),
    pruner: Optional[Pruner] = typer.Option(None, "--pruner", help="Stop unpromising trials after an epoch: "
                                            "median, hyperband or none [default: median]."),
    seed: Optional[int] = typer.Option(None, "--seed", min=0, help="The sampler's seed (worker i: seed + i) "
                                       "[default: the spec's seed]; every trial trains with the spec's seed."),
    backend: Optional[Backend] = typer.Option(None, "--backend", "-b", help="Which backend trains the trials "
                                              "[default: numpy]."),
    device: Optional[str] = device_option(None),
    data: Optional[str] = typer.Option(None, "--data", help="Data set name or .npz/.csv path (overrides the spec)."),
    threads: Optional[int] = threads_option(),
    dtype: Optional[Dtype] = typer.Option(None, "--dtype", help="Precision of every trial, as for train "
                                          "[default: float32]."),
    epochs: Optional[int] = typer.Option(None, "--epochs", min=1, max=2**62, help="Epochs of every trial (written into "
                                         "each trial's spec and best.nns)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Study directory (default: "
                                       "runs/search-<model>-<time>)."),
    storage: Optional[str] = typer.Option(None, "--storage", metavar="URL", help="Where the study lives: "
                                          "sqlite:///FILE, postgresql://USER:PW@HOST/DB (many machines), "
                                          "journal:FILE [default: sqlite in --out]."),
    study_name: Optional[str] = typer.Option(None, "--study-name", metavar="NAME", help="The study's name in the "
                                             "storage; processes with the same storage and name share the study "
                                             "[default: the --out directory's name]."),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, max=256, metavar="N", help="Workers on this machine "
                             "sharing the study (this process and N-1 more)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the study in --out DIR (with its settings; "
                                "--trials may extend it)."),
    new_study: bool = typer.Option(False, "--new-study", help="When the space changed since the study began, "
                                   "continue as a new study in the same storage instead of refusing."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print only errors and the final summary."),
    show: Optional[Path] = typer.Option(None, "--show", metavar="STUDY_DIR", help="Print the trials of a study "
                                        "(best first), with the pruned and failed ones and their errors."),
    dashboard: bool = typer.Option(False, "--dashboard", help="With --show: serve optuna-dashboard for the "
                                   "study on 127.0.0.1 (pip install -e '.[dashboard]')."),
    port: int = typer.Option(8080, "--port", min=1, max=65535, help="The --dashboard port."),
) -> None:
    """Search a spec's space with Optuna: train a trial per point, prune the unpromising, record every
    trial as a run directory, and write the best point as a concrete spec (best.nns).

    The study lives in a storage (SQLite in --out by default) that survives Ctrl-C: --resume continues
    it, and refuses a changed space (saying what changed) unless --new-study. With one worker and a
    seed, the same spec gives the same trials in the same order and the same results; retraining
    best.nns with the same backend, device, dtype, threads and data reproduces the best trial exactly.

    Examples:

      nnspec search specs/digits_mlp_search.nns --trials 30

      nnspec search specs/digits_mlp_search.nns --jobs 2 --out runs/digits-search

      nnspec search specs/digits_mlp_search.nns --out runs/digits-search --resume

      nnspec search specs/digits_cnn_search.nns --backend torch --device cuda --sampler random --pruner hyperband

      nnspec search specs/digits_mlp_search.nns --storage postgresql://me:pw@db/studies --study-name digits

      nnspec search --show runs/digits-search

      nnspec search --show runs/digits-search --dashboard --port 8081
    """
    if show is not None:
        return _show(show, storage, dashboard, port)
    if dashboard:
        fail("--dashboard goes with --show STUDY_DIR")
    from cli.search_run import SearchOptions, run_search

    options = SearchOptions(spec_path=spec_path, trials=trials, timeout=timeout, metric=metric,
                            direction=direction.value if direction else None,
                            sampler=sampler.value if sampler else None, pruner=pruner.value if pruner else None,
                            seed=seed, backend=backend.value if backend else None, device=device, data=data,
                            threads=threads, dtype=dtype.value if dtype else None, epochs=epochs, out=out,
                            storage=storage, study_name=study_name, jobs=jobs, resume=resume, new_study=new_study,
                            quiet=quiet)
    raise typer.Exit(run_search(options))


def _show(study_dir: Path, storage: str | None, dashboard: bool, port: int) -> None:
    from cli.search_show import show_study
    from tools.search.storage import StorageError
    from tools.search.study_dir import StudyDirError, open_study

    try:
        info, study = open_study(study_dir, storage)
    except (StudyDirError, StorageError) as exc:
        fail(str(exc))
    if not dashboard:
        show_study(info, study, study_dir)
        raise typer.Exit(EXIT_OK)
    try:
        import optuna_dashboard
    except ImportError:
        fail("--dashboard needs optuna-dashboard: pip install -e '.[dashboard]'")
    from tools.search.storage import open_storage

    url = info.storage_url(study_dir, storage)
    _check_port(port)
    print(f"optuna-dashboard for {study_dir} (study {info.study_name}) on http://127.0.0.1:{port}/ "
          "(Ctrl-C stops it)", flush=True)
    try:  # loopback only: the dashboard can change the study (notes, trials' states)
        optuna_dashboard.run_server(open_storage(url), host="127.0.0.1", port=port)
    except OSError as exc:
        fail(f"--port {port}: cannot serve the dashboard on 127.0.0.1 ({exc.strerror or exc})")
    raise typer.Exit(EXIT_OK)


def _check_port(port: int) -> None:
    """``--port`` must be free on 127.0.0.1 (one line, exit 2, before the server says it started)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            fail(f"--port {port}: cannot serve the dashboard on 127.0.0.1 ({exc.strerror or exc})")
