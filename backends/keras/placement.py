"""Where the Keras backend runs, and TensorFlow's process-wide numeric switches.

- ``tf_device(device)``: nnspec's resolved device string as a TensorFlow device name — ``"cpu"`` is
  ``/CPU:0``; ``"cuda"`` / ``"cuda:N"`` is ``/GPU:N`` when TensorFlow lists that many GPUs (a GPU build
  of TensorFlow; the ``tensorflow-cpu`` wheel of the test extra never lists one); anything else,
  ``"mps"`` included, is a ``ValueError`` with one sentence. The CLI refuses such a device earlier
  (``backends.devices``); this is the trainer's own check for library callers.
- ``set_numeric_switches(tf32, deterministic)``: TensorFloat-32 matmuls and convolutions on or off
  (``tf.config.experimental.enable_tensor_float_32_execution``; TensorFlow's own default is on, which
  matters on Ampere and later GPUs only — nnspec makes it an explicit choice, off unless asked), and
  TensorFlow's op determinism (``tf.config.experimental.enable_op_determinism``) when asked. Both are
  process-wide: the last trainer built sets TF32, and op determinism, once on, stays on for the rest
  of the process (TensorFlow has no public way to switch it off).
"""

from __future__ import annotations

import re

import tensorflow as tf


def tf_device(device: str) -> str:
    """The TensorFlow device name for ``device`` ("cpu", "cuda", "cuda:N"); ValueError for one that
    TensorFlow cannot use here."""
    if device == "cpu":
        return "/CPU:0"
    match = re.fullmatch(r"cuda(?::(\d+))?", device)
    if match is None:
        raise ValueError(f"device {device!r}: the Keras backend runs on 'cpu' or 'cuda[:N]' (TensorFlow's GPUs)")
    index = int(match.group(1) or 0)
    gpus = tf.config.list_physical_devices("GPU")
    if index >= len(gpus):
        seen = f"only {len(gpus)} GPU(s)" if gpus else "no GPU"
        raise ValueError(f"device {device!r}: TensorFlow sees {seen} (a GPU needs a GPU build of TensorFlow; "
                         "the tensorflow-cpu wheel never lists one)")
    return f"/GPU:{index}"


def set_numeric_switches(tf32: bool, deterministic: bool) -> None:
    """TF32 on exactly when ``tf32``; op determinism on when ``deterministic`` (see above: process-wide)."""
    tf.config.experimental.enable_tensor_float_32_execution(bool(tf32))
    if deterministic:
        tf.config.experimental.enable_op_determinism()
