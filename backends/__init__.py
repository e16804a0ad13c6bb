"""Backends: NumPy (the reference, hand-written backprop), PyTorch and Keras; each lowers the IR.

Every backend provides a ``Trainer`` (see ``runtime.loop``) built as
``Trainer(spec, weights, *, dtype, seed, mode, device, tf32, deterministic)`` (``backends.contract``):

- ``mode="canonical"`` (equivalence): initial weights are ``weights`` or else the NumPy
  initializers' (``compiler.semantics.initializers.initial_weights``), dropout masks come from
  ``compiler.semantics.masks.keep_mask(seed, step, layer, shape, rate)``, batches from the shared loop.
  In float64 all backends then agree step for step to round-off.
- ``mode="native"`` (speed, everyday use): the framework's own initializers (same
  distributions) and random numbers; training still follows the pinned update rules.

Weights cross the boundary as ``{"layer/weight": ndarray}`` in Keras' layouts, whatever the
framework uses inside. ``runtime.trainers.make_trainer`` builds one, importing a framework only when
it is asked for.
"""

from __future__ import annotations

import importlib
import signal
import threading
from contextlib import contextmanager

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
    with _signals_kept() as received:  # TensorFlow's import catches a KeyboardInterrupt raised inside it
        try:
            importlib.import_module(package)
        except ImportError:
            raise BackendUnavailable(f"the {name} backend needs {package}, which is not installed: {install}") \
                from None
    for signum in received:  # delivered now, to the handler the caller had (Ctrl-C: KeyboardInterrupt)
        signal.raise_signal(signum)
    apply_to_frameworks()


@contextmanager
def _signals_kept():
    """Yield a list that SIGINT/SIGTERM arriving inside append their numbers to (in the main thread only),
    so that a framework's import cannot swallow them; the caller's handlers are back on exit."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():  # None: a handler not set from Python, which cannot be put back
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
