"""Where and how the torch backend computes: the device, TF32, determinism, autocast.

- ``configure(device, tf32, deterministic)``: TF32 for float32 matmuls and cuDNN convolutions is set
  explicitly both ways (PyTorch's own defaults differ: off for matmuls, on for cuDNN), never left to the
  framework. ``deterministic`` (set both ways too: a trainer built without it switches off what an earlier one
  switched on): ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an operation
  without a deterministic kernel warns instead of stopping the run), cuDNN deterministic and not
  benchmarking, and cuBLAS' fixed workspace (``CUBLAS_WORKSPACE_CONFIG=:4096:8``, set before CUDA starts);
  without it, on CUDA, cuDNN picks (benchmarks) its convolution algorithms and some backward kernels add
  with atomics, so two runs differ in the last bits. On the CPU the backend is deterministic either way.
- ``memory_format(device, model)``: on CUDA a network with convolutions keeps its 4-d weights in
  ``channels_last`` (NHWC) memory, as its activations already are (the input is NHWC viewed as NCHW), so
  cuDNN runs its NHWC kernels without converting; on the CPU, as before, the default.
- ``autocast(device, compute)``: the forward pass in the precision's compute dtype (``torch.autocast``),
  or nothing in float32/float64.
"""

from __future__ import annotations

import contextlib
import os

import torch

COMPUTE = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def configure(device: torch.device, *, tf32: bool, deterministic: bool) -> None:
    """Apply the process-wide settings the run asked for (see the module docstring)."""
    if device.type == "cuda":
        if deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cuda.matmul.allow_tf32 = bool(tf32)
        torch.backends.cudnn.allow_tf32 = bool(tf32)
        torch.backends.cudnn.deterministic = bool(deterministic)
        torch.backends.cudnn.benchmark = not deterministic
    torch.use_deterministic_algorithms(bool(deterministic), warn_only=True)  # both ways, as TF32


def memory_format(device: torch.device, model: torch.nn.Module) -> None:
    """Channels-last 4-d weights on CUDA (see the module docstring)."""
    if device.type == "cuda" and any(p.dim() == 4 for p in model.parameters()):
        model.to(memory_format=torch.channels_last)


def autocast(device: torch.device, compute: str):
    """``torch.autocast`` to the compute dtype of a mixed precision; a null context otherwise."""
    dtype = COMPUTE.get(compute)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def float_buffer_dtype(device: torch.device) -> torch.dtype:
    """The dtype of on-device running sums: float64, except on MPS (which has none)."""
    return torch.float32 if device.type == "mps" else torch.float64
