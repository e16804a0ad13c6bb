"""One training session: what ``nnspec train`` runs, and what each trial of ``nnspec search`` runs — the same
code, so that a trial's concrete spec retrained with ``nnspec train`` (same backend, device, data) ends with
the same weights and history bit for bit.

1. ``prepare_run``: settle the options (when resuming, those the checkpoint recorded, ``runtime.run_options``),
   load the data (``runtime.dataset_cache``), build the trainer, create and lock the run directory (or lock
   the one resumed);
2. ``train_run``: fit (``runtime.loop.fit``) with a checkpoint after every epoch, every ``checkpoint_every``
   steps, and when training stops early by request or diverges;
3. ``finish_run``: the run directory's final files as one group, ``run.json`` — with the outcome — last
   (``runtime.run_dir.write_run``); the per-run PNG (``curves.png``) only with ``plots=True``
   (``nnspec report RUN --plot FILE`` draws a run's curves later).

Nothing here prints or exits. Errors meant for the user are raised with their message; progress goes out
through the loop's events (``backends.contract.LoopEvents``); how training ended is returned and recorded in
the ``Run``. The CLI (``cli/train.py``) and the search (``tools/search/trial_run.py``) say it their own way.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

DEFAULTS = {"backend": "numpy", "mode": "native", "dtype": "float32"}


@dataclass
class Run:
    """One training session: the spec as trained, its data, trainer, directory and what happened.

    ``options`` are the settled options, plain values: ``backend``, ``mode``, ``dtype`` (names), ``seed``,
    ``data`` (as given, or None for the spec's), ``epochs``, ``checkpoint_every``, ``track``, ``threads``,
    ``device`` (resolved: ``"cpu"``, ``"cuda:0"``, …), ``device_name``, ``tf32``, ``deterministic``."""

    spec: Any
    spec_path: Path
    options: dict
    dataset: Any
    trainer: Any
    run_dir: Path
    state: Any  # the LoopState to resume from, or None
    meta: dict  # what every checkpoint records about the run
    previous_seconds: float = 0.0  # training time before a resume
    lock: Any = None  # the run directory's RunDirLock, held until the caller releases it
    outcome: str = "completed"
    write_failed: bool = False  # a checkpoint could not be written: training stopped, nothing more is written
    history: Any = None
    epochs_done: list = field(default_factory=list)
    seconds: float = 0.0
    weights_step: int | None = None  # when training diverged: the steps the weights saved have had
    info: dict | None = None  # run.json, once finish_run has written it


def prepare_run(spec, spec_path: Path, overrides: dict, *, out: Path | None, resume: Path | None = None) -> Run:
    """Settle the options (those recorded in the checkpoint when resuming), load the data, build the
    trainer, and create and lock the run directory ``out`` (None: ``runs/<model>-<time>``), or lock the one
    resumed.

    ``overrides``: the options given for this run (``runtime.run_options.FLAGS`` names them; None: not
    given; enums are taken by value). A relative data file is found from ``spec_path``'s directory.

    A resumed checkpoint is validated whole — metadata, weights, position, running sums, history,
    early stopping and trainer state, against the spec, the data and a fresh trainer — before the
    trainer takes any of it; nothing in the run directory changes when it is refused. Raises
    ``CheckpointError``, ``DeviceError``, ``DataError``, ``BackendUnavailable``, ``RunDirInUse``,
    ``FileExistsError`` (``out`` not empty) or ``WriteError``, with the lock (if any) given back."""
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

    from backends.devices import settle_device
    from backends.threads import use_threads
    from compiler.semantics.precision import precision
    from runtime.checkpoint import FILENAME, CheckpointError, fingerprint, load_checkpoint
    from runtime.checkpoint_check import ResumeTarget, check_run_meta, check_weights, validate_checkpoint
    from runtime.data import describe_data
    from runtime.dataset_cache import cached_dataset
    from runtime.run_dir import create_run_dir
    from runtime.run_options import plain, read_recorded, settle
    from runtime.trainers import make_trainer

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
    options.update({k: options.get(k) or default for k, default in DEFAULTS.items()})
    options.update(track=bool(options.get("track")), tf32=bool(options.get("tf32")),
                   deterministic=bool(options.get("deterministic")))
    # the thread count changes the bits, so a resumed run keeps its own unless --threads is given anew
    recorded["threads"] = options["threads"] = use_threads(recorded.get("threads"))
    updates = {k: v for k, v in (("epochs", recorded.get("epochs")), ("seed", options.get("seed"))) if v is not None}
    if updates:
        spec = spec.model_copy(update={"training": spec.training.model_copy(update=updates)})
    dtype = np.dtype(precision(options["dtype"]).variables)  # of the data, weights and optimizer state
    # the device and precision first: nothing is loaded or written for one the backend cannot use
    options["device"], options["device_name"] = settle_device(options["backend"], options.get("device"),
                                                              options["dtype"])
    dataset = cached_dataset(spec, data=options["data"], base_dir=spec_path.parent, dtype=dtype)
    if weights is not None:  # the spec's weights, shapes, dtype, finite: before a trainer takes them
        check_weights(resume / FILENAME, "weight", weights, spec, dtype)
    trainer = make_trainer(options["backend"], spec, weights=weights, dtype=options["dtype"], mode=options["mode"],
                           adapt_on=dataset.x_train, device=options["device"], tf32=options["tf32"],
                           deterministic=options["deterministic"])
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
    meta = {"fingerprint": fingerprint(spec), "model": spec.name, "backend": options["backend"],
            "mode": options["mode"], "dtype": options["dtype"], "seed": spec.training.seed,
            "data": data_text, "data_option": options["data"], "overrides": recorded}
    return Run(spec=spec, spec_path=spec_path, options=options, dataset=dataset, trainer=trainer, run_dir=run_dir,
               state=state, meta=meta, previous_seconds=previous_seconds, lock=lock)


def train_run(run: Run, *, events=None, should_stop: Callable[[], bool] | None = None) -> BaseException | None:
    """Train (or continue) ``run``, checkpointing after every epoch, every ``checkpoint_every`` steps, and
    where training stops. ``should_stop`` is polled at every step boundary and at the end of every epoch
    (``runtime.loop.fit``); ``events`` receive the loop's progress.

    Returns None when training ended by itself — every epoch, or early stopping (``run.outcome`` says
    which) — else the exception that stopped it, with ``run.outcome`` saying so: ``Interrupted``
    (``should_stop``; the checkpoint continues it), ``Diverged`` (the weights and the final checkpoint are
    those after the last good step, ``run.weights_step``), or ``WriteError`` (a checkpoint could not be
    written; ``run.write_failed``, the previous checkpoint intact). ``run.epochs_done`` and ``run.seconds``
    (training time, earlier sessions' included) are set in every case."""
    from backends.contract import Interrupted, LoopState
    from compiler.semantics.divergence import Diverged
    from runtime.checkpoint import save_checkpoint
    from runtime.files import WriteError
    from runtime.loop import fit

    spec, t, d = run.spec, run.spec.training, run.dataset
    state = run.state or LoopState()

    def on_checkpoint(state):
        save_checkpoint(run.run_dir, state, weights=run.trainer.get_weights(), trainer_state=run.trainer.state(),
                        meta={**run.meta, "seconds": run.previous_seconds + time.perf_counter() - start})

    start = time.perf_counter()
    stopped: BaseException | None = None
    try:
        run.history = fit(run.trainer, spec, d.x_train, d.y_train, d.x_val, d.y_val, epochs=t.epochs, seed=t.seed,
                          events=events, resume=state, on_checkpoint=on_checkpoint,
                          checkpoint_every=run.options.get("checkpoint_every"), should_stop=should_stop)
        run.epochs_done = run.history.epochs
        if run.history.stopped_early:
            run.outcome = f"stopped early after epoch {len(run.epochs_done)} (best: epoch {run.history.best_epoch})"
    except Interrupted as exc:
        run.epochs_done = exc.state.history.epochs
        run.outcome, stopped = f"interrupted: {exc}", exc
    except Diverged as exc:
        run.epochs_done, run.weights_step = state.history.epochs, exc.weights_step
        run.outcome, stopped = f"diverged: {exc}", exc
    except WriteError as exc:
        run.epochs_done = state.history.epochs
        run.outcome, run.write_failed, stopped = f"write failed: {exc}", True, exc
    run.seconds = run.previous_seconds + time.perf_counter() - start
    return stopped


def kept_epoch_logs(run: Run) -> dict | None:
    """The history entry of the epoch whose weights the run keeps: the restored best epoch under early
    stopping with ``restore_best_weights`` (when training ended by itself), else the last epoch done;
    None when no epoch was done or training diverged (the weights are then those of a step)."""
    epochs_done, t = run.epochs_done, run.spec.training
    if not epochs_done or run.weights_step is not None:
        return None
    restored = t.early_stopping is not None and t.early_stopping.restore_best_weights and run.history is not None
    best = run.history.best_epoch if run.history is not None else None
    return epochs_done[(best or len(epochs_done)) - 1] if restored else epochs_done[-1]


def finish_run(run: Run, source_text: str | None, *, plots: bool = True) -> dict | None:
    """Write the run directory's final files, all or none (``runtime.run_dir.write_run``; ``run.json``, with
    ``run.outcome``, last; ``curves.png`` only with ``plots``), and keep ``run.json``'s content in
    ``run.info``. Returns the history entry of the epoch whose weights were saved (``kept_epoch_logs``), or
    None. Raises ``WriteError`` (the previous files and the checkpoint kept)."""
    from runtime.run_dir import write_run

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
    final = kept_epoch_logs(run)
    if final is not None:
        info["weights_epoch"] = final["epoch"]
    if run.weights_step is not None:  # diverged: the weights are those of a step, not of an epoch's end
        info["weights_step"] = run.weights_step
    write_run(run.run_dir, source_text=source_text or "", ir_json=spec.model_dump_json(indent=2),
              weights=run.trainer.get_weights(), epochs=epochs_done, info=info,
              title=f"{spec.name} ({run.meta['backend']})", plots=plots)
    run.info = info
    return final
