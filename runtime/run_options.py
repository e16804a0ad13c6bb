"""The options of a training run that a checkpoint records, and how ``nnspec train --resume`` uses them.

Every option given on the command line that changes what or how a run trains is recorded in
each checkpoint (``overrides``): ``--backend``, ``--mode``, ``--dtype``, ``--seed``, ``--data``,
``--track``, ``--epochs``, ``--checkpoint-every``, ``--threads``, ``--device``, ``--tf32``/``--no-tf32``,
``--deterministic``/``--no-deterministic``. ``--resume RUN_DIR`` uses the
recorded values, so a bare ``nnspec train SPEC --resume RUN_DIR`` continues the run as it was
started (``--epochs 12`` stays 12, not the spec's number). On the resume command:

- options that change the meaning of the run (``MUST_MATCH``: backend, mode, dtype — a precision
  policy —, seed, data, track) may be repeated but not changed: a different value is refused with a
  message;
- ``--epochs`` may be changed, to extend training (or end it earlier), but not below the epochs
  the checkpoint has already completed;
- run-time choices (``RUN_TIME``: ``--checkpoint-every``, ``--threads``, ``--device``, ``--tf32``,
  ``--deterministic``) may be given anew and then replace the recorded ones (devices and processes
  are run-time choices, never part of a run's meaning: a run checkpointed on a GPU resumes on a CPU
  and the other way round); the new values are recorded from then on. A checkpoint that predates
  an option (no ``device`` recorded, say) resumes with that option's default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from backends.threads import MAX_THREADS
from compiler.semantics.precision import PRECISIONS

MUST_MATCH = ("backend", "mode", "dtype", "seed", "data", "track")
RUN_TIME = ("checkpoint_every", "threads", "device", "tf32", "deterministic")
FLAGS = {"backend": "--backend", "mode": "--mode", "dtype": "--dtype", "seed": "--seed", "data": "--data",
         "epochs": "--epochs", "checkpoint_every": "--checkpoint-every", "threads": "--threads", "track": "--track",
         "device": "--device", "tf32": "--tf32", "deterministic": "--deterministic"}
NEGATABLE = ("tf32", "deterministic")  # flags whose False is a choice (--no-tf32), recorded like True


class RecordedOverrides(BaseModel):
    """The ``overrides`` a checkpoint records; unknown keys (options of a later nnspec) are kept."""

    model_config = ConfigDict(strict=True, extra="allow")
    backend: Optional[Literal["numpy", "torch", "keras"]] = None
    mode: Optional[Literal["native", "canonical"]] = None
    dtype: Optional[Literal[tuple(PRECISIONS)]] = None
    seed: Optional[int] = Field(None, ge=0)
    data: Optional[str] = None
    track: Optional[bool] = None
    epochs: Optional[int] = Field(None, ge=1)
    checkpoint_every: Optional[int] = Field(None, ge=1)
    threads: Optional[int] = Field(None, ge=1, le=MAX_THREADS)
    device: Optional[str] = None
    tf32: Optional[bool] = None
    deterministic: Optional[bool] = None

    @field_validator("device")
    @classmethod
    def _device_form(cls, value: Optional[str]) -> Optional[str]:
        from backends.devices import DeviceError, parse_device

        if value is not None:
            try:
                parse_device(value)
            except DeviceError as exc:
                raise ValueError(str(exc)) from None
        return value


def plain(overrides: dict[str, Any]) -> dict[str, Any]:
    """The options actually given (not None, not a False flag unless ``NEGATABLE``), as JSON values (enums
    by value)."""
    return {k: getattr(v, "value", v) for k, v in overrides.items()
            if v is not None and (v is not False or k in NEGATABLE)}


def read_recorded(path: Path, meta: dict) -> dict[str, Any]:
    """The overrides recorded in a checkpoint's metadata (none in format version 1), validated;
    ``CheckpointError`` when they are not what nnspec writes."""
    from runtime.checkpoint import CheckpointError, describe_validation_error

    recorded = meta.get("overrides", {})
    if not isinstance(recorded, dict):
        raise CheckpointError(f"{path} has 'overrides' of type {type(recorded).__name__}, not an object")
    try:
        RecordedOverrides.model_validate(recorded)
    except ValidationError as exc:
        raise CheckpointError(f"{path} {describe_validation_error(exc, within='overrides.')}") from None
    return {k: v for k, v in recorded.items() if v is not None}


def settle(given: dict[str, Any], recorded: dict[str, Any], settings: dict[str, Any], *, path: Path,
           started_epochs: int) -> dict[str, Any]:
    """The overrides a resumed run uses: the recorded ones, with ``--epochs`` and the run-time options
    of the resume command replacing theirs. ``settings`` are the values the run trained with (backend,
    mode, dtype, seed, data as given or None, track). ``CheckpointError`` when the command contradicts
    one of them or asks for fewer epochs than the checkpoint has started (finished, or begun)."""
    from runtime.checkpoint import CheckpointError

    given = plain(given)
    for key in MUST_MATCH:
        if key in given and given[key] != settings.get(key):
            was = _shown(key, settings.get(key))
            differs = "" if key == "track" else f", not {given[key]}"
            changeable = ", ".join(FLAGS[k] for k in ("epochs", *RUN_TIME))
            raise CheckpointError(f"{path.parent} was trained with{was}{differs}; resume it with the same settings "
                                  f"(only {changeable} may change)")
    if given.get("epochs") is not None and given["epochs"] < started_epochs:
        raise CheckpointError(f"{path.parent} has already trained into epoch {started_epochs}; --epochs "
                              f"{given['epochs']} would undo that (give at least {started_epochs})")
    settled = dict(recorded)
    settled.update({k: v for k, v in given.items() if k == "epochs" or k in RUN_TIME})
    return settled


def _shown(key: str, value: Any) -> str:
    if key == "track":
        return " --track" if value else "out --track"
    if key == "data" and value is None:
        return " the spec's data"
    return f" {key} {value}"
