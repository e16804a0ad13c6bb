"""Validating a loaded checkpoint against what it claims to continue, before anything is touched.

``load_checkpoint`` guarantees a well-formed file (types, keys, format version); this module
guarantees that its content fits the run being resumed:

- ``check_run_meta``: the run's settings (backend, mode, dtype, seed, data, time, overrides) are
  present and of known values;
- ``validate_checkpoint``: the weights (and the best weights of early stopping) are exactly the
  spec's (``compiler.weights.weight_specs``: names, shapes), of the run's dtype and finite; the
  trainer state has the keys, shapes and dtypes of a freshly built trainer's ``state()`` and finite
  floats; the position (epoch, batch, step), the epoch's running sums, the history and early
  stopping's state agree with each other and with the data's batches per epoch.

Every failure is a ``CheckpointError`` whose one-line message names the file and what is wrong.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Optional

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from backends import BACKENDS, MODES
from runtime.checkpoint import CheckpointError, describe_validation_error
from backends.contract import LoopState
from compiler.semantics.precision import PRECISIONS, loss_scale_problem
from compiler.weights import weight_specs


class RunMeta(BaseModel):
    """What ``nnspec train`` records about a run in every checkpoint (besides the loop's state)."""

    model_config = ConfigDict(strict=True, extra="allow")
    fingerprint: str
    model: str
    backend: str
    mode: str
    dtype: Literal[tuple(PRECISIONS)]  # a precision policy's name
    seed: int = Field(ge=0)
    data: str
    data_option: Optional[str]
    seconds: float = Field(ge=0)
    overrides: dict[str, Any] = Field(default_factory=dict)  # absent in format version 1


def check_run_meta(path: Path, meta: dict) -> RunMeta:
    """The run's settings from a checkpoint's metadata; ``CheckpointError`` when one is missing,
    mistyped or unknown (a backend or mode nnspec does not have)."""
    try:
        run = RunMeta.model_validate(meta)
    except ValidationError as exc:
        raise CheckpointError(f"{path} {describe_validation_error(exc)}") from None
    if run.backend not in BACKENDS:
        raise CheckpointError(f"{path} names backend {run.backend!r}, which nnspec does not have "
                              f"({', '.join(BACKENDS)})")
    if run.mode not in MODES:
        raise CheckpointError(f"{path} names mode {run.mode!r}, not one of {', '.join(MODES)}")
    if not math.isfinite(run.seconds):
        raise CheckpointError(f"{path} has 'seconds' = {run.seconds}: not a finite time")
    return run


@dataclass(frozen=True)
class ResumeTarget:
    """What the checkpoint must fit: the spec as it will be trained, and the data it will see."""

    spec: Any
    dtype: np.dtype
    epochs: int  # the epochs the resumed run trains to
    n_train: int


def check_weights(path: Path, what: str, weights: dict[str, np.ndarray], spec, dtype: np.dtype) -> None:
    """``weights`` are exactly the spec's weights, each of its shape, of ``dtype``, all finite."""
    expected = {w.name: tuple(w.shape) for w in weight_specs(spec)}
    missing, extra = sorted(expected.keys() - weights.keys()), sorted(weights.keys() - expected.keys())
    if missing:
        raise CheckpointError(f"{path} lacks {what} {_names(missing)} of model {spec.name}")
    if extra:
        raise CheckpointError(f"{path} has {what} {_names(extra)}, which model {spec.name} does not have")
    for name, shape in expected.items():
        array = weights[name]
        if array.shape != shape:
            raise CheckpointError(f"{path}: {what} '{name}' has shape {array.shape}, the spec's is {shape}")
        if array.dtype != dtype:
            raise CheckpointError(f"{path}: {what} '{name}' is {array.dtype}, the run trains in {dtype}")
        if not np.all(np.isfinite(array)):
            raise CheckpointError(f"{path}: {what} '{name}' holds NaN or infinite values")


def check_trainer_state(path: Path, state: dict[str, np.ndarray], template: dict[str, np.ndarray]) -> None:
    """``state`` has ``template``'s keys and each array its shape and dtype; floats are finite."""
    missing, extra = sorted(template.keys() - state.keys()), sorted(state.keys() - template.keys())
    if missing:
        raise CheckpointError(f"{path} lacks trainer state {_names(missing)}")
    if extra:
        raise CheckpointError(f"{path} has trainer state {_names(extra)}, which this trainer does not keep")
    for key, like in template.items():
        array, like = state[key], np.asarray(like)
        if array.shape != like.shape or array.dtype != like.dtype:
            raise CheckpointError(f"{path}: trainer state '{key}' is {array.dtype} of shape {array.shape}, "
                                  f"expected {like.dtype} of shape {like.shape}")
        if array.dtype.kind == "f" and not np.all(np.isfinite(array)):
            raise CheckpointError(f"{path}: trainer state '{key}' holds NaN or infinite values")


def check_position(path: Path, state: LoopState, target: ResumeTarget) -> None:
    """Epoch, batch and step agree with each other and with the data's batches per epoch; the history,
    the running sums and early stopping's state fit that position."""
    t = target.spec.training
    per_epoch = math.ceil(target.n_train / t.batch_size)
    if state.epoch > target.epochs:
        raise CheckpointError(f"{path} stands at epoch {state.epoch}, beyond the run's {target.epochs} epochs")
    if state.batch >= per_epoch or (state.epoch == target.epochs and state.batch):
        raise CheckpointError(f"{path} stands at batch {state.batch} of an epoch of {per_epoch} batches")
    if state.step != state.epoch * per_epoch + state.batch:
        raise CheckpointError(f"{path} stands at step {state.step}, but epoch {state.epoch} and batch "
                              f"{state.batch} of {per_epoch} per epoch make {state.epoch * per_epoch + state.batch}")
    numbers = [e.get("epoch") for e in state.history.epochs]
    if numbers != list(range(1, state.epoch + 1)):
        raise CheckpointError(f"{path} has a history of {len(numbers)} epochs at epoch {state.epoch}")
    _check_sums(path, state, target, per_epoch)
    _check_stopper(path, state, t)


def _check_sums(path: Path, state: LoopState, target: ResumeTarget, per_epoch: int) -> None:
    sums = state.sums
    if not sums or (state.batch == 0 and sums.get("count") == 0):
        if state.batch:
            raise CheckpointError(f"{path} lacks the running sums of its epoch (at batch {state.batch})")
        return
    from compiler.semantics.outputs import recorded_names

    keys = {"count", "loss_sum", *(f"sum/{m}" for m in recorded_names(target.spec))}
    if set(sums) != keys:
        raise CheckpointError(f"{path} has running sums {sorted(sums)}, expected {sorted(keys)}")
    count = sums["count"]
    seen = state.batch * target.spec.training.batch_size
    if not isinstance(count, int) or isinstance(count, bool) or count != min(seen, target.n_train):
        raise CheckpointError(f"{path} has a running sample count of {count!r} after {state.batch} batches")
    for key, value in sums.items():
        if not _finite_numbers(value):
            raise CheckpointError(f"{path} has running sum '{key}' = {str(value)[:40]}: not finite numbers")


def _finite_numbers(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_stopper(path: Path, state: LoopState, training) -> None:
    rule = training.early_stopping
    if rule is None:
        if state.stopper is not None or state.history.stopped_early or state.best_weights is not None:
            raise CheckpointError(f"{path} has early-stopping state, but the spec has no early_stopping")
        return
    if state.stopper is None:
        raise CheckpointError(f"{path} lacks early stopping's state (the spec sets early_stopping)")
    best_epoch, wait = state.stopper["best_epoch"], state.stopper["wait"]
    if best_epoch is not None and best_epoch >= state.epoch or wait > state.epoch:
        raise CheckpointError(f"{path} has early-stopping state (best epoch {best_epoch}, wait {wait}) that does "
                              f"not fit epoch {state.epoch}")
    if state.best_weights is not None and not rule.restore_best_weights:
        raise CheckpointError(f"{path} holds best weights, but the spec does not restore them")


# An optimizer's update count in a trainer's state: NumPy's and PyTorch's key, and Keras' (its variable's name).
ITERATION_KEYS = {"optimizer/iterations", "optimizer/iteration"}


def validate_checkpoint(path: Path, state: LoopState, weights: dict[str, np.ndarray],
                        trainer_state: dict[str, np.ndarray], *, target: ResumeTarget,
                        template: dict[str, np.ndarray] | None) -> None:
    """Everything above: weights and best weights, position, sums, history, early stopping, and (when
    ``template`` — a fresh trainer's ``state()`` — is given) the trainer state: the optimizer's update count
    from 0 to the steps taken, a loss scale reachable (``compiler.semantics.precision.loss_scale_problem``).
    Reads only."""
    check_weights(path, "weight", weights, target.spec, target.dtype)
    if state.best_weights is not None:
        check_weights(path, "best weight", state.best_weights, target.spec, target.dtype)
    check_position(path, state, target)
    if template is not None:
        check_trainer_state(path, trainer_state, template)
        for key in ITERATION_KEYS & template.keys():
            if not 0 <= int(trainer_state[key]) <= state.step:
                raise CheckpointError(f"{path}: trainer state '{key}' is {int(trainer_state[key])}: an optimizer "
                                      f"makes no fewer than 0 updates and no more than the {state.step} steps taken")
        if "loss_scale/scale" in template:
            problem = loss_scale_problem(float(trainer_state["loss_scale/scale"]),
                                         int(trainer_state["loss_scale/good_steps"]),
                                         int(trainer_state["loss_scale/skipped_steps"]), state.step)
            if problem is not None:
                raise CheckpointError(f"{path}: trainer state '{problem[0]}' {problem[1]}")


def _names(names: list[str]) -> str:
    shown = ", ".join(f"'{n}'" for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")
