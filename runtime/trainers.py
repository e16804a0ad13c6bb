"""``make_trainer``: a backend's ``Trainer`` for a spec, its Normalization layers adapted.

The one way every command builds a trainer: ``backends.require`` first (an install hint when the
framework is missing, ``--threads`` applied), then the backend's trainer class from the registry
(``backends.BACKENDS``), then adaptation on the training split (``runtime.adapt``).
"""

from __future__ import annotations

import importlib

from backends import BACKENDS, require
from runtime import adapt


def make_trainer(name: str, spec, *, weights=None, dtype="float32", seed: int | None = None,
                 mode: str = "canonical", adapt_on=None):
    """The ``name`` backend's trainer for ``spec``. ``adapt_on``: the training split, on which every
    Normalization layer not adapted yet (``count`` 0) learns its mean and variance (``runtime.adapt``) —
    every command that runs a model passes it; a resumed checkpoint's layers are adapted already."""
    module_name, cls_name, _, _ = BACKENDS[name]
    require(name)
    cls = getattr(importlib.import_module(module_name), cls_name)
    trainer = cls(spec, weights, dtype=dtype, seed=seed, mode=mode)
    if adapt_on is not None:
        adapt.adapt_trainer(trainer, spec, adapt_on)
    return trainer
