"""Checkpoints: everything needed to continue a run exactly where it stopped.

``checkpoint.npz`` in the run directory holds the weights, the trainer's state (optimizer
slots and step counter, random-number states), the loop's position (epoch, batch within it,
global step — the schedule's position and the data order follow from these and the seed),
the epoch's running sums, the history so far and early stopping's state. Metadata is one
JSON string inside the NPZ; nothing is pickled. It is written atomically (temporary file,
flush, fsync, rename), so a crash or ``kill -9`` during a write leaves the previous
checkpoint intact. A checkpoint names the spec it belongs to (a fingerprint of the compiled
IR without source positions and without ``epochs``) and its format version.

Reading is defensive: ``load_checkpoint`` refuses (``CheckpointError``, one line) a file that is
not a checkpoint, a format version that is not one this nnspec writes, metadata of the wrong
type or with keys missing, and arrays outside the three groups; ``runtime.checkpoint_check``
then validates it against the spec, the data and a fresh trainer before anything is touched.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.files import write_file
from runtime.input_files import InputFileError
from runtime.safe_npz import read_npz
from backends.contract import History, LoopState

# 1: the first format. 2: adds "overrides", the command-line options the run was started with.
FORMAT_VERSION = 2
FILENAME = "checkpoint.npz"
ARRAY_GROUPS = ("weights/", "trainer/", "best/")


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
    write_file(run_dir / FILENAME, buffer.getvalue())


class _Stopper(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")
    best: float
    best_epoch: Optional[int] = Field(ge=0)
    wait: int = Field(ge=0)


class _LoopDocument(BaseModel):
    """The loop's part of the metadata (the rest belongs to whoever saved it: see ``checkpoint_check``)."""

    model_config = ConfigDict(strict=True, extra="allow")
    format_version: int
    epoch: int = Field(ge=0, le=2**53)
    batch: int = Field(ge=0, le=2**53)
    step: int = Field(ge=0, le=2**53)
    sums: dict[str, Any]
    epoch_seconds: float = Field(ge=0)
    history: list[dict[str, Union[int, float]]]  # int first: an epoch number stays an int
    stopped_early: bool
    stopper: Optional[_Stopper]
    has_best_weights: bool


def describe_validation_error(exc: ValidationError, within: str = "") -> str:
    """The first problem of a pydantic error in one line: "has 'within.key.sub' = value: what it should be"
    (or "lacks 'within.key'")."""
    first = exc.errors()[0]
    # a union's members appear in the location as their type names ('history.0.loss.int'): not a key
    loc = [part for part in first["loc"] if part not in ("int", "float", "str", "bool", "list", "dict")]
    where = within + ".".join(str(part) for part in loc) or "the document"
    if first["type"] == "missing":
        return f"lacks '{where}'"
    received = first.get("input")
    shown = repr(received) if not isinstance(received, (dict, list)) else type(received).__name__
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"has '{where}' = {shown}: {first['msg'][0].lower()}{first['msg'][1:]}"


def require_checkpoint(run_dir: Path) -> Path:
    """``run_dir/checkpoint.npz``; ``CheckpointError`` if ``run_dir`` is not a directory or has none."""
    path = run_dir / FILENAME
    if not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is not a run directory")
    if path.exists() and not path.is_file():
        raise CheckpointError(f"{path} is not a regular file (a directory, FIFO or device); it cannot be resumed")
    if not path.is_file():
        raise CheckpointError(f"{run_dir} has no checkpoint ({FILENAME}); it cannot be resumed")
    return path


def load_checkpoint(run_dir: Path) -> tuple[LoopState, dict, dict, dict]:
    """(loop state, weights, trainer state, metadata) from ``run_dir``; ``CheckpointError`` (one line,
    naming the file) if it is not a well-formed checkpoint of a format version this nnspec reads.
    The positions, weights and trainer state are well typed but not yet checked against a spec:
    that is ``runtime.checkpoint_check.validate_checkpoint``."""
    path = require_checkpoint(run_dir)
    try:
        arrays = read_npz(path, shown=str(path))
        meta = json.loads(str(arrays.pop("meta")))
    except InputFileError as exc:
        raise CheckpointError(str(exc)) from None
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise CheckpointError(f"{path} is corrupt or truncated ({type(exc).__name__}: {first})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path} is corrupt: its metadata is a {type(meta).__name__}, not a JSON object")
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {version}, newer than this nnspec reads "
                              f"({FORMAT_VERSION}); upgrade nnspec to resume it")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise CheckpointError(f"{path} has format version {version!r}, which no nnspec writes "
                              f"(this one reads 1 to {FORMAT_VERSION}); it is not a usable checkpoint")
    try:
        document = _LoopDocument.model_validate(meta)
    except ValidationError as exc:
        raise CheckpointError(f"{path} {describe_validation_error(exc)}") from None
    if not math.isfinite(document.epoch_seconds):
        raise CheckpointError(f"{path} has 'epoch_seconds' = {document.epoch_seconds}: not a finite time")
    strays = sorted(k for k in arrays if not k.startswith(ARRAY_GROUPS))
    if strays:
        raise CheckpointError(f"{path} holds arrays outside the weights, trainer and best groups: {strays[:3]}")

    def group(prefix):
        return {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}

    best = group("best/")
    if document.has_best_weights != bool(best):
        raise CheckpointError(f"{path} says has_best_weights={document.has_best_weights} but holds "
                              f"{len(best)} best weights")
    history = History(epochs=document.history, stopped_early=document.stopped_early)
    state = LoopState(epoch=document.epoch, batch=document.batch, step=document.step, sums=document.sums,
                      epoch_seconds=document.epoch_seconds, history=history,
                      stopper=document.stopper.model_dump() if document.stopper is not None else None,
                      best_weights=best if document.has_best_weights else None)
    return state, group("weights/"), group("trainer/"), meta
