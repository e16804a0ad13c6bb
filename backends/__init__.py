"""Backends: NumPy (the reference, hand-written backprop), PyTorch and Keras; each lowers the IR.

``make_trainer(name, spec, ...)`` imports a backend only when it is asked for, so that
commands that do not train never load a framework.
"""

from __future__ import annotations

import importlib

# backend name -> (module, trainer class, the package it needs, how to install it)
BACKENDS = {
    "numpy": ("backends.numpy.trainer", "NumpyTrainer", "numpy", "pip install numpy"),
}


class BackendUnavailable(Exception):
    """The framework a backend needs is not installed; the message says how to install it."""


def make_trainer(name: str, spec, *, weights=None, dtype="float32", seed: int | None = None):
    module_name, cls_name, package, install = BACKENDS[name]
    try:
        importlib.import_module(package)
    except ImportError:
        raise BackendUnavailable(f"the {name} backend needs {package}: {install}") from None
    cls = getattr(importlib.import_module(module_name), cls_name)
    return cls(spec, weights, dtype=dtype, seed=seed)
