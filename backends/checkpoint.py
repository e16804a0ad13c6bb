"""Checkpoints: everything needed to continue a run exactly where it stopped.

``checkpoint.npz`` in the run directory holds the weights, the trainer's state (optimizer
slots and step counter, random-number states), the loop's position (epoch, batch within it,
global step — the schedule's position and the data order follow from these and the seed),
the epoch's running sums, the history so far and early stopping's state. Metadata is one
JSON string inside the NPZ; nothing is pickled. It is written atomically (temporary file,
flush, fsync, rename), so a crash or ``kill -9`` during a write leaves the previous
checkpoint intact. A checkpoint names the spec it belongs to (a fingerprint of the compiled
IR without source positions and without ``epochs``) and its format version.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np

from backends.loop import History, LoopState
from backends.run_dir import write_atomic

FORMAT_VERSION = 1
FILENAME = "checkpoint.npz"


class CheckpointError(Exception):
    """A checkpoint that cannot be resumed from; the message says why."""


def fingerprint(spec) -> str:
    """sha256 of the compiled IR without spans, source path and the number of epochs."""
    def strip(o):
        if isinstance(o, dict):
            return {k: strip(v) for k, v in o.items() if k not in ("span", "source")}
        if isinstance(o, list):
            return [strip(v) for v in o]
        return o

    ir = strip(json.loads(spec.model_dump_json()))
    ir["training"].pop("epochs", None)
    return hashlib.sha256(json.dumps(ir, sort_keys=True).encode()).hexdigest()


def save_checkpoint(run_dir: Path, state: LoopState, *, weights: dict[str, np.ndarray],
                    trainer_state: dict[str, np.ndarray], meta: dict) -> None:
    """Write ``run_dir/checkpoint.npz`` atomically."""
    document = {
        "format_version": FORMAT_VERSION, **meta,
        "epoch": state.epoch, "batch": state.batch, "step": state.step, "sums": state.sums,
        "epoch_seconds": state.epoch_seconds, "history": state.history.epochs,
        "stopped_early": state.history.stopped_early, "stopper": state.stopper,
        "has_best_weights": state.best_weights is not None,
    }
    arrays = {f"weights/{k}": np.asarray(v) for k, v in weights.items()}
    arrays.update({f"trainer/{k}": np.asarray(v) for k, v in trainer_state.items()})
    if state.best_weights is not None:
        arrays.update({f"best/{k}": np.asarray(v) for k, v in state.best_weights.items()})
    arrays["meta"] = np.array(json.dumps(document))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    write_atomic(run_dir / FILENAME, buffer.getvalue())


def load_checkpoint(run_dir: Path) -> tuple[LoopState, dict, dict, dict]:
    """(loop state, weights, trainer state, metadata) from ``run_dir``; ``CheckpointError`` if unusable."""
    path = run_dir / FILENAME
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is not a run directory")
    if not path.exists():
        raise CheckpointError(f"{run_dir} has no checkpoint ({FILENAME}); it cannot be resumed")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        meta = json.loads(str(arrays.pop("meta")))
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{path} is corrupt or truncated ({type(exc).__name__}: {exc})") from None
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {version}, newer than this nnspec reads "
                              f"({FORMAT_VERSION}); upgrade nnspec to resume it")

    def group(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    try:
        history = History(epochs=meta["history"], stopped_early=meta["stopped_early"])
        state = LoopState(epoch=meta["epoch"], batch=meta["batch"], step=meta["step"], sums=meta["sums"],
                          epoch_seconds=meta["epoch_seconds"], history=history, stopper=meta["stopper"],
                          best_weights=group("best/") if meta["has_best_weights"] else None)
    except KeyError as exc:
        raise CheckpointError(f"{path} is incomplete: it lacks {exc}") from None
    return state, group("weights/"), group("trainer/"), meta
