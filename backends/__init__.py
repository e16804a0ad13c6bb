"""Backends: NumPy (the reference, hand-written backprop), PyTorch and Keras; each lowers the IR.

Every backend provides a ``Trainer`` (see ``backends.loop``) built as
``Trainer(spec, weights, *, dtype, seed, mode)``:

- ``mode="canonical"`` (equivalence): initial weights are ``weights`` or else the NumPy
  initializers' (``backends.numpy.initializers.initial_weights``), dropout masks come from
  ``backends.masks.keep_mask(seed, step, layer, shape, rate)``, batches from the shared loop.
  In float64 all backends then agree step for step to round-off.
- ``mode="native"`` (speed, everyday use): the framework's own initializers (same
  distributions) and random numbers; training still follows the pinned update rules.

Weights cross the boundary as ``{"layer/weight": ndarray}`` in Keras' layouts, whatever the
framework uses inside. ``make_trainer`` imports a framework only when it is asked for.
"""

from __future__ import annotations

import importlib

# backend name -> (module, trainer class, the package it needs, how to install it)
BACKENDS = {
    "numpy": ("backends.numpy.trainer", "NumpyTrainer", "numpy", "pip install numpy"),
    "torch": ("backends.torch.trainer", "TorchTrainer", "torch", "pip install 'nnspec[torch]'  (torch==2.13.0)"),
    "keras": ("backends.keras.trainer", "KerasTrainer", "keras",
              "pip install 'nnspec[keras]'  (tensorflow-cpu 2.21, keras 3.15)"),
}
MODES = ("canonical", "native")


class BackendUnavailable(Exception):
    """The framework a backend needs is not installed; the message says how to install it."""


def require(name: str) -> None:
    """Raise ``BackendUnavailable`` with an install hint when ``name``'s framework is missing.

    Every command reaches a framework through here (``make_trainer`` calls it first): the backend's
    package is imported before the framework, to prepare its start-up (``backends.keras`` silences
    TensorFlow's start-up logging), and ``backends.threads.apply_to_frameworks`` follows it (``--threads``)."""
    from backends.threads import apply_to_frameworks

    module_name, _, package, install = BACKENDS[name]
    importlib.import_module(module_name.rsplit(".", 1)[0])
    try:
        importlib.import_module(package)
    except ImportError:
        raise BackendUnavailable(f"the {name} backend needs {package}, which is not installed: {install}") from None
    apply_to_frameworks()


def make_trainer(name: str, spec, *, weights=None, dtype="float32", seed: int | None = None,
                 mode: str = "canonical", adapt_on=None):
    """The ``name`` backend's trainer for ``spec``. ``adapt_on``: the training split, on which every
    Normalization layer not adapted yet (``count`` 0) learns its mean and variance (``backends.adapt``) —
    every command that runs a model passes it; a resumed checkpoint's layers are adapted already."""
    module_name, cls_name, _, _ = BACKENDS[name]
    require(name)
    cls = getattr(importlib.import_module(module_name), cls_name)
    trainer = cls(spec, weights, dtype=dtype, seed=seed, mode=mode)
    if adapt_on is not None:
        from backends.adapt import adapt_trainer

        adapt_trainer(trainer, spec, adapt_on)
    return trainer
