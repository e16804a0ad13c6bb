"""TensorFlow's start-up, made quiet: nnspec's output is nnspec's lines only.

Importing TensorFlow prints C++ log lines to stderr — "This TensorFlow binary is optimized to use
available CPU instructions ...", "oneDNN custom operations are on ...", CUDA's "failed call to
cuInit" on a machine without a GPU, and absl's "All log messages before absl::InitializeLog() is
called are written to STDERR" in front of them. None is about the user's spec; a real problem still
reaches the user as a Python exception. ``quiet_tensorflow_startup`` runs before TensorFlow is first
imported (``backends.keras`` calls it on import, and ``backends.require`` imports that package before
the framework). It changes only what the user has not set: ``TF_CPP_MIN_LOG_LEVEL=0 nnspec train ...``
shows every line again.
"""

from __future__ import annotations

import logging
import os

TF_LOG_LEVEL = "3"  # C++ logging: hide INFO, WARNING and ERROR (the cuInit failure is logged as an ERROR)


def quiet_tensorflow_startup() -> None:
    """Silence TensorFlow's C++ start-up logging and its Python loggers, unless the user configured them."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", TF_LOG_LEVEL)
    for name in ("tensorflow", "absl"):  # TensorFlow's and absl's Python loggers (Keras logs through absl)
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.ERROR)
