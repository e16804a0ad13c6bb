"""Devices and precisions: which a backend can use here, decided before a command loads data or writes.

``--device`` (``train``, ``equiv``, ``diagnose``, ``lr-find``) takes one of ``DEVICE_FORMS``:

- ``auto``: the torch backend takes ``cuda:0`` when PyTorch sees a CUDA device, the keras backend
  ``cuda:0`` when TensorFlow lists a GPU; otherwise (and always for numpy) ``cpu``;
- ``cpu``: every backend;
- ``cuda`` (= ``cuda:0``) and ``cuda:N``: torch when ``torch.cuda.is_available()`` and
  ``N < torch.cuda.device_count()``; keras when ``tensorflow.config.list_physical_devices("GPU")``
  has more than N entries (the ``tensorflow-cpu`` wheel lists none: a GPU needs a GPU build of
  TensorFlow); numpy never;
- ``mps`` (Apple GPUs): torch when ``torch.backends.mps.is_available()``; numpy and keras never.

``resolve_device(backend, requested)`` returns the device string a trainer is given (``"cpu"``,
``"cuda:N"``, ``"mps"``); ``check_precision(backend, dtype)`` refuses a precision policy
(``compiler.semantics.precision``) the backend cannot train in: the NumPy backend computes in float32
or float64 only, and MPS has no float64. Both raise ``DeviceError`` with a one-line message; the CLI
turns it into ``error: ...`` and exit 2 before anything is written.

A framework is imported only when the answer needs it (``auto``, ``cuda``, ``mps`` on torch or keras),
through ``backends.require``; ``cpu`` and every numpy answer import nothing.
"""

from __future__ import annotations

import re
import sys

from compiler.semantics.precision import PRECISIONS, precision

DEVICE_FORMS = ("auto", "cpu", "cuda", "cuda:N", "mps")
_FORM = re.compile(r"auto|cpu|mps|cuda(?::(\d{1,4}))?")


class DeviceError(ValueError):
    """A device or precision a backend cannot use here; the message is one line, for the user."""


def parse_device(requested: str) -> str:
    """``requested`` in its normal form (``"cuda"`` → ``"cuda:0"``, ``"cuda:01"`` → ``"cuda:1"``, case
    and surrounding blanks ignored); ``DeviceError`` naming the accepted forms for anything else."""
    text = str(requested).strip().lower()
    match = _FORM.fullmatch(text)
    if match is None:
        raise DeviceError(f"unknown device {requested!r}: use {', '.join(DEVICE_FORMS)} (N a CUDA device number "
                          "from 0)")
    if text.startswith("cuda"):
        return f"cuda:{int(match.group(1) or 0)}"
    return text


def resolve_device(backend: str, requested: str) -> str:
    """The device ``backend`` trains on for ``--device requested`` (see the module docstring):
    ``"cpu"``, ``"cuda:N"`` or ``"mps"``. ``DeviceError`` when the backend cannot use it here;
    ``backends.BackendUnavailable`` when the framework needed to decide is not installed."""
    device = parse_device(requested)
    framework = _framework(backend)
    if device == "cpu" or (framework == "numpy" and device == "auto"):
        return "cpu"
    if framework == "torch":
        return _torch_device(device)
    if framework == "keras":
        return _keras_device(device)
    raise DeviceError(f"the {backend} backend runs on the CPU only, not on {device}: use --device cpu (or auto), "
                      "or --backend torch for a GPU")


def _framework(backend: str) -> str:
    """The package a backend runs on (``backends.BACKENDS``: numpy, torch or keras), which decides its devices."""
    from backends import BACKENDS

    if backend not in BACKENDS:
        raise DeviceError(f"unknown backend {backend!r}: one of {', '.join(BACKENDS)}")
    return BACKENDS[backend][2]


def _torch_device(device: str) -> str:
    from backends import require

    require("torch")
    import torch

    if device == "auto":
        return "cuda:0" if torch.cuda.is_available() else "cpu"
    if device == "mps":
        if not torch.backends.mps.is_available():
            raise DeviceError("PyTorch sees no MPS device here (torch.backends.mps.is_available() is False): use "
                              "--device cpu or auto")
        return device
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise DeviceError(f"PyTorch sees no CUDA device here (torch.cuda.is_available() is False; torch "
                          f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}): use --device cpu or auto")
    return _numbered(device, count, "PyTorch sees")


def _keras_device(device: str) -> str:
    from backends import require

    if device == "mps":
        raise DeviceError("the keras backend has no 'mps' device (TensorFlow lists an Apple GPU as a GPU): use "
                          "--device auto or cpu")
    require("keras")
    import tensorflow as tf

    count = len(tf.config.list_physical_devices("GPU"))
    if device == "auto":
        return "cuda:0" if count else "cpu"
    if count == 0:
        raise DeviceError(f"this TensorFlow ({tf.__version__}) sees no GPU: a GPU needs a GPU build of TensorFlow "
                          "(pip install 'tensorflow[and-cuda]'; the keras extra installs tensorflow-cpu) and a CUDA "
                          "device; use --device cpu or auto")
    return _numbered(device, count, "TensorFlow sees")


def _numbered(device: str, count: int, who: str) -> str:
    index = int(device.split(":")[1])
    if index >= count:
        devices = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise DeviceError(f"there is no {device}: {who} {count} CUDA device{'s' if count != 1 else ''} ({devices})")
    return device


def describe_device(device: str) -> str:
    """A device's name for people: ``"CPU"``, the GPU's name (``"NVIDIA H200"``, from the framework that
    resolved it), ``"Apple GPU (MPS)"``. Imports nothing: a framework not loaded yet is not asked."""
    if device == "cpu":
        return "CPU"
    if device == "mps":
        return "Apple GPU (MPS)"
    index = int(device.split(":")[1]) if ":" in device else 0
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and index < torch.cuda.device_count():
        return torch.cuda.get_device_name(index)
    tf = sys.modules.get("tensorflow")
    if tf is not None:
        gpus = tf.config.list_physical_devices("GPU")
        if index < len(gpus):
            name = tf.config.experimental.get_device_details(gpus[index]).get("device_name")
            if name:
                return name
    return f"CUDA device {index}"


def check_precision(backend: str, dtype, device: str = "cpu") -> str:
    """The name of precision policy ``dtype`` (a name or a NumPy float32/float64 dtype) when ``backend``
    can train in it on ``device``; ``DeviceError`` otherwise: an unknown name, a mixed policy on the
    NumPy backend (it computes in float32 or float64 only), float64 on MPS (which has none)."""
    try:
        policy = precision(dtype)
    except ValueError:
        raise DeviceError(f"unknown precision {dtype!r}: use {', '.join(PRECISIONS)}") from None
    if _framework(backend) == "numpy" and policy.mixed:
        raise DeviceError(f"the {backend} backend computes in float32 or float64 only, not {policy.name}: use --dtype "
                          "float32 (or float64), or --backend torch or keras for a mixed precision")
    if device == "mps" and "float64" in (policy.variables, policy.compute):
        raise DeviceError("MPS has no float64: use --dtype float32 or a mixed precision on --device mps")
    return policy.name


def settle_device(backend: str, requested: str | None, dtype=None) -> tuple[str, str]:
    """The device ``backend`` runs on for ``--device requested`` (``None``: auto) and its name for people,
    after checking that the backend can train in ``dtype`` there. Raises ``DeviceError`` (one line, for the
    user) or ``BackendUnavailable``."""
    if dtype is not None:
        check_precision(backend, dtype)
    device = resolve_device(backend, requested or "auto")
    if dtype is not None:
        check_precision(backend, dtype, device)
    return device, describe_device(device)


__all__ = ["DEVICE_FORMS", "DeviceError", "check_precision", "describe_device", "parse_device",
           "resolve_device", "settle_device"]
