"""``make_trainer``: a backend's ``Trainer`` for a spec, its Normalization layers adapted.

The one way every command builds a trainer: ``backends.require`` first (an install hint when the
framework is missing, ``--threads`` applied), then the backend's trainer class from the registry
(``backends.BACKENDS``), then adaptation on the training split (``runtime.adapt``). Before any of it, a
model whose weights cannot fit in memory is refused (``runtime.model_memory.ModelTooLarge``).
"""

from __future__ import annotations

import importlib

import numpy as np

from backends import BACKENDS, require
from compiler.semantics.precision import precision
from runtime import adapt
from runtime.model_memory import check_model_fits


def make_trainer(name: str, spec, *, weights=None, dtype="float32", seed: int | None = None,
                 mode: str = "canonical", adapt_on=None, device: str = "cpu", tf32: bool = False,
                 deterministic: bool = False):
    """The ``name`` backend's trainer for ``spec``. ``adapt_on``: the training split, on which every
    Normalization layer not adapted yet (``count`` 0) learns its mean and variance (``runtime.adapt``) —
    every command that runs a model passes it; a resumed checkpoint's layers are adapted already.

    ``dtype``: a precision name (``compiler.semantics.precision``) or a NumPy float32/float64 dtype;
    float32 and float64 reach the trainer as NumPy dtypes, a mixed policy by its name. ``device`` (a
    resolved device string, ``backends.devices.resolve_device``), ``tf32`` and ``deterministic`` are passed on
    (``backends.contract.Trainer``)."""
    module_name, cls_name, _, _ = BACKENDS[name]
    policy = precision(dtype)
    check_model_fits(spec, policy.variables)  # before the framework is loaded or anything allocated
    require(name)
    cls = getattr(importlib.import_module(module_name), cls_name)
    trainer = cls(spec, weights, dtype=policy.name if policy.mixed else np.dtype(policy.name), seed=seed, mode=mode,
                  device=device, tf32=tf32, deterministic=deterministic)
    if adapt_on is not None:
        adapt.adapt_trainer(trainer, spec, adapt_on)
    return trainer
